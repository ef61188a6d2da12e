package chat

import "time"

// Kind says whether a conversation is between exactly two users or a named
// group.
type Kind string

// Conversation kinds.
const (
	KindDirect Kind = "direct"
	KindGroup  Kind = "group"
)

// Role is a member's standing in a conversation.
type Role string

// Roles, from most to least powerful.
const (
	RoleOwner  Role = "owner"
	RoleAdmin  Role = "admin"
	RoleMember Role = "member"
)

// manages reports whether r may rename a group and change its members.
func (r Role) manages() bool { return r == RoleOwner || r == RoleAdmin }

// Conversation is what clients get for one conversation. Viewer-specific
// fields (LastReadSeq, UnreadCount, LastMessage) are filled for reads made on
// behalf of one user and left empty in events fanned out to every member.
type Conversation struct {
	ID           string    `json:"id"`
	Kind         Kind      `json:"kind"`
	Title        string    `json:"title"`
	CreatedBy    string    `json:"createdBy"`
	CreatedAt    time.Time `json:"createdAt"`
	UpdatedAt    time.Time `json:"updatedAt"`
	LastActivity time.Time `json:"lastActivityAt"`
	LastSeq      int64     `json:"lastSeq"`
	LastEventSeq int64     `json:"lastEventSeq"`
	Members      []Member  `json:"members,omitempty"`

	LastReadSeq *int64   `json:"lastReadSeq,omitempty"`
	UnreadCount *int64   `json:"unreadCount,omitempty"`
	LastMessage *Message `json:"lastMessage,omitempty"`

	// directKey and prunedEventSeq are storage details the use cases need.
	DirectKey      string `json:"-"`
	PrunedEventSeq int64  `json:"-"`
}

// Member is a current member of a conversation with the public profile
// fields of the local user replica (empty until the replica knows the user).
type Member struct {
	UserID      string    `json:"userId"`
	Role        Role      `json:"role"`
	JoinedAt    time.Time `json:"joinedAt"`
	LastReadSeq int64     `json:"lastReadSeq"`
	Username    string    `json:"username,omitempty"`
	DisplayName string    `json:"displayName,omitempty"`
	AvatarURL   string    `json:"avatarUrl,omitempty"`
}

// Message is one message as clients see it. A deleted message is a
// tombstone: Deleted is true, Body is empty and reactions are gone, while
// Seq and ID stay so clients can replace what they show.
type Message struct {
	ID             string     `json:"id"`
	ConversationID string     `json:"conversationId"`
	Seq            int64      `json:"seq"`
	EventSeq       int64      `json:"eventSeq"`
	SenderID       string     `json:"senderId"`
	ClientMsgID    string     `json:"clientMsgId"`
	Body           string     `json:"body"`
	ReplyToID      *string    `json:"replyToId,omitempty"`
	CreatedAt      time.Time  `json:"createdAt"`
	EditedAt       *time.Time `json:"editedAt,omitempty"`
	DeletedAt      *time.Time `json:"deletedAt,omitempty"`
	Deleted        bool       `json:"deleted"`
	Reactions      []Reaction `json:"reactions"`
}

// Reaction aggregates one emoji on a message.
type Reaction struct {
	Emoji   string   `json:"emoji"`
	Count   int      `json:"count"`
	UserIDs []string `json:"userIds"`
}

// ReadReceipt is the payload of a conversation:read event.
type ReadReceipt struct {
	ConversationID string `json:"conversationId"`
	UserID         string `json:"userId"`
	Seq            int64  `json:"seq"`
	EventSeq       int64  `json:"eventSeq"`
}

// Event is one entry of a conversation's change log. Type is the chat.*
// event type; Payload is exactly what clients received live, which Sync
// never returns as is for messages and conversations: it renders their
// current state instead (see render).
type Event struct {
	ConversationID string
	EventSeq       int64
	Type           string
	Payload        []byte
	CreatedAt      time.Time
	// Recipients is who the live delivery goes to; it is not stored in the
	// log because sync re-checks membership at read time.
	Recipients []string
}

// User is the replica of one user's public profile.
type User struct {
	ID          string
	Username    string
	DisplayName string
	AvatarURL   string
	UpdatedAt   time.Time
}
