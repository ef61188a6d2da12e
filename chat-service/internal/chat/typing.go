package chat

import (
	"context"
	"encoding/json"
	"slices"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/input"
)

// TypingSignal is the payload of a typing event.
type TypingSignal struct {
	ConversationID string `json:"conversationId"`
	UserID         string `json:"userId"`
	Typing         bool   `json:"typing"`
}

// Typing tells the other members that the caller is (or stopped) typing.
// It is throttled per user; signals past the limit are dropped silently
// because the next one supersedes them anyway.
func (s *Service) Typing(ctx context.Context, userID, convID string, typing bool) error {
	cid, ok := input.ParseID(convID)
	if !ok {
		return ErrNotFound
	}
	if ok, _ := s.typing.Allow(userID); !ok {
		return nil
	}
	ids, err := s.store.ActiveMemberIDs(ctx, cid)
	if err != nil {
		return err
	}
	if !slices.Contains(ids, userID) {
		return ErrNotFound
	}
	others := slices.DeleteFunc(ids, func(id string) bool { return id == userID })
	if len(others) == 0 || s.realtime == nil {
		return nil
	}
	payload, err := json.Marshal(TypingSignal{ConversationID: cid, UserID: userID, Typing: typing})
	if err != nil {
		return err
	}
	return s.realtime.Publish(ctx, events.TypeTyping, events.Delivery{ConversationID: cid, Recipients: others, Payload: payload})
}
