package chat

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/input"
)

// NewConversation is a request to start a conversation. For a direct one
// Members holds the other user; for a group, everyone but the creator.
type NewConversation struct {
	Kind    Kind
	Title   string
	Members []string
}

// ConversationPage is one page of a user's conversations.
type ConversationPage struct {
	Conversations []Conversation `json:"conversations"`
	NextCursor    string         `json:"nextCursor,omitempty"`
}

// CreateConversation starts a conversation. A direct conversation is
// idempotent per pair: when it exists it is returned with created false.
func (s *Service) CreateConversation(ctx context.Context, userID string, in NewConversation) (Conversation, bool, error) {
	var f fields
	others := s.checkMemberIDs(&f, "members", in.Members, userID)
	switch in.Kind {
	case KindDirect:
		if len(others) != 1 && len(f) == 0 {
			f.add("members", "a direct conversation needs exactly one other user")
		}
		if in.Title != "" {
			f.add("title", "a direct conversation has no title")
		}
	case KindGroup:
		in.Title = checkTitle(&f, "title", in.Title)
		if len(others)+1 > MaxMembers {
			f.add("members", "a group has at most 256 members")
		}
	default:
		f.add("kind", `must be "direct" or "group"`)
	}
	if err := f.err(); err != nil {
		return Conversation{}, false, err
	}
	if err := s.requireKnown(ctx, "members", others); err != nil {
		return Conversation{}, false, err
	}
	if in.Kind == KindDirect {
		return s.createDirect(ctx, userID, others[0])
	}
	c, err := s.createGroup(ctx, userID, in.Title, others)
	return c, err == nil, err
}

// checkMemberIDs validates user ids and returns them deduplicated, without
// the caller.
func (s *Service) checkMemberIDs(f *fields, field string, ids []string, self string) []string {
	out := make([]string, 0, len(ids))
	for i, raw := range ids {
		id, ok := input.ParseID(raw)
		if !ok {
			f.add(fmt.Sprintf("%s[%d]", field, i), "must be a user id")
			continue
		}
		if id != self && !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	return out
}

// requireKnown refuses user ids the replica does not know, waiting briefly
// for the replica to catch up with a registration that just happened.
func (s *Service) requireKnown(ctx context.Context, field string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	deadline := time.Now().Add(s.cfg.UnknownUserWait)
	for {
		known, err := s.store.KnownUsers(ctx, ids)
		if err != nil {
			return err
		}
		var f fields
		for i, id := range ids {
			if !known[id] {
				f.add(fmt.Sprintf("%s[%d]", field, i), "no such user")
			}
		}
		if len(f) == 0 {
			return nil
		}
		if !time.Now().Before(deadline) {
			// Well-formed ids of no user: the request is valid, its
			// references are not (422, the fields naming which ids).
			return &Error{Kind: KindUnknownReference, Code: "user_not_found", Detail: "no user has this id", Fields: f}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func directKey(a, b string) string {
	if b < a {
		a, b = b, a
	}
	return a + ":" + b
}

func (s *Service) createDirect(ctx context.Context, userID, other string) (Conversation, bool, error) {
	key := directKey(userID, other)
	var id string
	created := false
	err := s.store.InTx(ctx, func(tx Tx) error {
		existing, err := tx.DirectConversationID(ctx, key)
		if err == nil {
			id = existing
			return nil
		}
		if !errors.Is(err, ErrNotFound) {
			return err
		}
		if id, err = newID(); err != nil {
			return err
		}
		now := s.now()
		c := Conversation{ID: id, Kind: KindDirect, DirectKey: key, CreatedBy: userID,
			CreatedAt: now, UpdatedAt: now, LastActivity: now, LastEventSeq: 1}
		ms := []Member{{UserID: userID, Role: RoleMember, JoinedAt: now}, {UserID: other, Role: RoleMember, JoinedAt: now}}
		ok, err := tx.CreateConversation(ctx, c, ms)
		if err != nil {
			return err
		}
		if !ok {
			return errConflictingTx // the pair's conversation was created concurrently
		}
		created = true
		return s.recordConversation(ctx, tx, id, 1, events.TypeConversationCreated)
	})
	if errors.Is(err, errConflictingTx) {
		return s.createDirect(ctx, userID, other)
	}
	if err != nil {
		return Conversation{}, false, err
	}
	c, err := s.store.ConversationFor(ctx, id, userID)
	return c, created, err
}

func (s *Service) createGroup(ctx context.Context, userID, title string, others []string) (Conversation, error) {
	id, err := newID()
	if err != nil {
		return Conversation{}, err
	}
	err = s.store.InTx(ctx, func(tx Tx) error {
		now := s.now()
		c := Conversation{ID: id, Kind: KindGroup, Title: title, CreatedBy: userID,
			CreatedAt: now, UpdatedAt: now, LastActivity: now, LastEventSeq: 1}
		ms := []Member{{UserID: userID, Role: RoleOwner, JoinedAt: now}}
		for _, o := range others {
			ms = append(ms, Member{UserID: o, Role: RoleMember, JoinedAt: now})
		}
		if _, err := tx.CreateConversation(ctx, c, ms); err != nil {
			return err
		}
		return s.recordConversation(ctx, tx, id, 1, events.TypeConversationCreated)
	})
	if err != nil {
		return Conversation{}, err
	}
	return s.store.ConversationFor(ctx, id, userID)
}

// recordConversation logs a change whose payload is the conversation
// object (create, rename, membership), delivered to its members and extra.
func (s *Service) recordConversation(ctx context.Context, tx Tx, convID string, eventSeq int64, typ string, extra ...string) error {
	c, err := tx.Conversation(ctx, convID)
	if err != nil {
		return err
	}
	return s.record(ctx, tx, convID, eventSeq, typ, c, extra...)
}

// Conversation returns one conversation the user belongs to.
func (s *Service) Conversation(ctx context.Context, userID, convID string) (Conversation, error) {
	id, ok := input.ParseID(convID)
	if !ok {
		return Conversation{}, ErrNotFound
	}
	return s.store.ConversationFor(ctx, id, userID)
}

// Conversations lists the user's conversations by last activity, newest
// first. cursor is the NextCursor of the previous page ("" for the first).
func (s *Service) Conversations(ctx context.Context, userID, cursor string, limit int) (ConversationPage, error) {
	var f fields
	limit = pageLimit(&f, limit)
	after, ok := decodeConversationCursor(cursor)
	if !ok {
		f.add("cursor", "is not a cursor this service issued")
	}
	if err := f.err(); err != nil {
		return ConversationPage{}, err
	}
	list, err := s.store.Conversations(ctx, userID, after, limit+1)
	if err != nil {
		return ConversationPage{}, err
	}
	page := ConversationPage{Conversations: list}
	if len(list) > limit {
		page.Conversations = list[:limit]
		last := list[limit-1]
		page.NextCursor = encodeConversationCursor(ConversationCursor{LastActivity: last.LastActivity, ID: last.ID})
	}
	return page, nil
}

// maxCursorMicros is the last microsecond of year 9999, past any activity
// time a cursor can hold.
const maxCursorMicros = 253402300799999999

func encodeConversationCursor(c ConversationCursor) string {
	raw := strconv.FormatInt(c.LastActivity.UnixMicro(), 10) + "," + c.ID
	return base64.RawURLEncoding.EncodeToString([]byte(raw))
}

func decodeConversationCursor(s string) (ConversationCursor, bool) {
	if s == "" {
		return ConversationCursor{}, true
	}
	raw, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return ConversationCursor{}, false
	}
	us, id, ok := strings.Cut(string(raw), ",")
	if !ok {
		return ConversationCursor{}, false
	}
	micros, err := strconv.ParseInt(us, 10, 64)
	if err != nil || micros < 0 || micros > maxCursorMicros {
		// Out of the range this service ever writes; PostgreSQL would
		// refuse some of these times outright.
		return ConversationCursor{}, false
	}
	if id, ok = input.ParseID(id); !ok {
		return ConversationCursor{}, false
	}
	return ConversationCursor{LastActivity: time.UnixMicro(micros).UTC(), ID: id}, true
}
