package chat

import (
	"context"
	"fmt"
	"time"

	"github.com/parleychat/parley/shared/input"
)

// MaxPresenceQuery bounds the user ids of one presence query.
const MaxPresenceQuery = 100

// PresenceState is one user's current presence as a query answers it.
// LastSeenAt is when the user last came online or went offline; it is nil
// for a user never seen online.
type PresenceState struct {
	UserID     string     `json:"userId"`
	Online     bool       `json:"online"`
	LastSeenAt *time.Time `json:"lastSeenAt,omitempty"`
}

// PresenceLookup reads presence for a query (part of Store).
type PresenceLookup interface {
	// VisiblePresence returns the state of those of users (canonical ids,
	// no duplicates) who are callerID or share a current conversation with
	// callerID, in the order of users; the others are left out.
	VisiblePresence(ctx context.Context, callerID string, users []string) ([]PresenceState, error)
}

// QueryPresence returns the presence of the users among userIDs visible to
// callerID: the caller and the users sharing a current conversation with
// them. The others are left out of the answer exactly as ids that name no
// one are, so the answer never tells them apart. userIDs must hold 1 to
// MaxPresenceQuery user ids; duplicates are answered once.
func (s *Service) QueryPresence(ctx context.Context, callerID string, userIDs []string) ([]PresenceState, error) {
	switch {
	case userIDs == nil:
		return nil, Invalid(FieldError{Field: "userIds", Message: "is required"})
	case len(userIDs) == 0:
		return nil, Invalid(FieldError{Field: "userIds", Message: "must list at least one user id"})
	case len(userIDs) > MaxPresenceQuery:
		return nil, Invalid(FieldError{Field: "userIds", Message: fmt.Sprintf("must list at most %d user ids", MaxPresenceQuery)})
	}
	var f fields
	ids := make([]string, 0, len(userIDs))
	seen := make(map[string]bool, len(userIDs))
	for i, raw := range userIDs {
		id, ok := input.ParseID(raw)
		if !ok {
			f.add(fmt.Sprintf("userIds[%d]", i), "must be a user id")
			continue
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	if err := f.err(); err != nil {
		return nil, err
	}
	states, err := s.store.VisiblePresence(ctx, callerID, ids)
	if err != nil {
		return nil, err
	}
	if states == nil {
		states = []PresenceState{}
	}
	return states, nil
}
