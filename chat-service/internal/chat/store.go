package chat

import (
	"context"
	"time"
)

// Store is the persistence chat needs. Reads run outside transactions;
// every change runs inside InTx so that the domain rows, the change-log
// entry and the outgoing event commit or vanish together.
type Store interface {
	PresenceLookup

	// InTx runs fn in one transaction, committing when fn returns nil.
	InTx(ctx context.Context, fn func(Tx) error) error
	// InSendTx runs fn in one transaction like InTx, for a group commit:
	// the transaction begins with LockForSends' round trip and commits
	// with WriteSends', so a batch takes two round trips instead of four.
	// It commits (or rolls back) separately only when fn returns without
	// writing (nil: nothing to store) or with an error.
	InSendTx(ctx context.Context, fn func(SendTx) error) error

	// ConversationFor returns the conversation with its members and the
	// viewer's read state, or ErrNotFound unless viewer is a member.
	ConversationFor(ctx context.Context, convID, viewerID string) (Conversation, error)
	// Conversations lists the user's conversations, most recently active
	// first, starting after cursor (zero cursor: from the top).
	Conversations(ctx context.Context, userID string, after ConversationCursor, limit int) ([]Conversation, error)
	// Messages lists messages of a conversation ordered by seq ascending.
	Messages(ctx context.Context, convID string, q MessageQuery) ([]Message, error)
	// MessageByClientID finds the message sender sent with clientMsgID.
	MessageByClientID(ctx context.Context, senderID, clientMsgID string) (Message, error)
	// Search finds non-deleted messages matching query in conversations the
	// user belongs to, newest first, with ids below beforeID when set.
	Search(ctx context.Context, userID, query, beforeID string, limit int) ([]Message, error)
	// Member returns an active member, or ErrNotFound.
	Member(ctx context.Context, convID, userID string) (Member, error)
	// ActiveMemberIDs lists the current members of a conversation.
	ActiveMemberIDs(ctx context.Context, convID string) ([]string, error)
	// SyncStates returns the user's membership state in every conversation
	// they currently belong to plus those in listed they once belonged to.
	SyncStates(ctx context.Context, userID string, listed []string) ([]SyncState, error)
	// EventRanges returns the stored events of each range, in eventSeq order,
	// at most Limit per range.
	EventRanges(ctx context.Context, ranges []EventRange) ([]Event, error)
	// MessagesByID returns the messages with these ids as they are now.
	MessagesByID(ctx context.Context, ids []string) ([]Message, error)
	// Conversation returns a conversation with its active members, as
	// events fanned out to every member carry it.
	Conversation(ctx context.Context, convID string) (Conversation, error)
	// KnownUsers returns which of ids the user replica knows.
	KnownUsers(ctx context.Context, ids []string) (map[string]bool, error)
}

// Tx is the set of reads and writes a change needs, all inside one
// transaction.
type Tx interface {
	// Bump locks the conversation row and takes the next eventSeq, and with
	// message set also the next message seq; ErrNotFound if it does not
	// exist. The row lock serialises changes per conversation, which is what
	// makes both sequences gap-free and in commit order.
	Bump(ctx context.Context, convID string, message bool, now time.Time) (seq, eventSeq int64, err error)
	// Member returns an active member, or ErrNotFound.
	Member(ctx context.Context, convID, userID string) (Member, error)
	// MemberIDs lists the active members' user ids.
	MemberIDs(ctx context.Context, convID string) ([]string, error)
	// Conversation returns the conversation with its active members.
	Conversation(ctx context.Context, convID string) (Conversation, error)
	// DirectConversationID returns the id of the direct conversation with
	// key, or ErrNotFound.
	DirectConversationID(ctx context.Context, key string) (string, error)
	// CreateConversation inserts c and its members; created is false when a
	// direct conversation with the same key already exists.
	CreateConversation(ctx context.Context, c Conversation, members []Member) (created bool, err error)
	// SetTitle renames a conversation.
	SetTitle(ctx context.Context, convID, title string, now time.Time) error
	// AddMember makes userID an active member (re-adding a former one) from
	// event eventSeq on; added is false when they already were one.
	AddMember(ctx context.Context, convID string, m Member, eventSeq int64) (added bool, err error)
	// RemoveMember marks an active member removed by event eventSeq, the
	// last event of their membership period.
	RemoveMember(ctx context.Context, convID, userID string, eventSeq int64, now time.Time) error
	// SetRole changes an active member's role.
	SetRole(ctx context.Context, convID, userID string, role Role) error
	// TouchConversation sets updated_at after a change to the conversation
	// itself (title, membership).
	TouchConversation(ctx context.Context, convID string, now time.Time) error
	// InsertMessage stores m; inserted is false when (sender, clientMsgId)
	// already exists.
	InsertMessage(ctx context.Context, m Message) (inserted bool, err error)
	// Message returns a message of the conversation with its reactions.
	Message(ctx context.Context, convID, msgID string) (Message, error)
	// UpdateMessage writes body, edited/deleted times and event_seq of m.
	UpdateMessage(ctx context.Context, m Message) error
	// DeleteReactions removes every reaction of a message.
	DeleteReactions(ctx context.Context, msgID string) error
	// AddReaction records a reaction; added is false if it existed.
	AddReaction(ctx context.Context, msgID, userID, emoji string, now time.Time) (added bool, err error)
	// RemoveReaction deletes a reaction; removed is false if it was absent.
	RemoveReaction(ctx context.Context, msgID, userID, emoji string) (removed bool, err error)
	// AdvanceRead raises a member's last read seq to seq; advanced is false
	// when it already was at or past it.
	AdvanceRead(ctx context.Context, convID, userID string, seq int64) (advanced bool, err error)
	// AppendEvent stores ev in the change log and enqueues it for delivery
	// to ev.Recipients.
	AppendEvent(ctx context.Context, ev Event) error
}

// SendTx is a group commit's transaction: LockForSends, then WriteSends.
type SendTx interface {
	// LockForSends is the first round trip of a group commit: it locks the
	// conversations in id order (so concurrent batches cannot deadlock),
	// then, reading after the locks were granted, returns their sequences
	// and active members (absent: no such conversation), the conversation
	// of each reply target that exists, and which (sender, clientMsgId)
	// keys are already stored.
	LockForSends(ctx context.Context, q SendLookup) (SendState, error)
	// WriteSends is the second round trip: it sets the conversations' new
	// sequences and inserts the messages, their change-log rows and their
	// outbox rows, all pipelined, and commits. A duplicate key fails the
	// whole call. Nothing may follow it in the transaction.
	WriteSends(ctx context.Context, bumps []SeqBump, sends []StoredSend) error
}

// SendLookup is what LockForSends reads for one batch of sends.
type SendLookup struct {
	ConversationIDs []string // distinct
	ReplyToIDs      []string // distinct
	Keys            []ClientKey
}

// ClientKey is a send's idempotency key.
type ClientKey struct{ SenderID, ClientMsgID string }

// SendState is LockForSends' answer.
type SendState struct {
	Conversations map[string]ConversationSeqs
	ReplyTo       map[string]string // message id -> its conversation id
	Existing      map[ClientKey]bool
}

// ConversationSeqs are a locked conversation's sequences and members.
type ConversationSeqs struct {
	LastSeq, LastEventSeq int64
	Members               []string // sorted
}

// SeqBump sets a locked conversation's sequences after a batch of sends.
type SeqBump struct {
	ConversationID        string
	LastSeq, LastEventSeq int64
	LastActivityAt        time.Time
}

// StoredSend is one message of a batch with its event; Ctx carries the
// sender's trace into the event envelope.
type StoredSend struct {
	Ctx     context.Context
	Message Message
	Event   Event
}

// MessageQuery selects a page of messages by seq.
type MessageQuery struct {
	Before int64 // only seq < Before when > 0
	After  int64 // only seq > After when > 0 (then paged from the oldest)
	Limit  int
}

// ConversationCursor positions a conversation list page after the last
// conversation of the previous page.
type ConversationCursor struct {
	LastActivity time.Time
	ID           string
}

// SyncState is one conversation's log bounds and the syncing user's
// membership periods in it.
type SyncState struct {
	ConversationID string
	// Active is true while the user is a member.
	Active         bool
	LastEventSeq   int64
	PrunedEventSeq int64
	// Periods are the user's membership periods, oldest first.
	Periods []Period
}

// Period is one stretch of membership: the events From..To (inclusive) were
// logged while the user was a member; To is 0 while the period is open.
type Period struct {
	From, To int64
}

// EventRange asks for events From..To (inclusive) of a conversation.
type EventRange struct {
	ConversationID string
	From, To       int64
	Limit          int
}
