package chat

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/parleychat/parley/shared/events"
)

// renderer turns stored change-log entries into what sync may show: the
// log keeps each payload as it was sent, which may hold text that was
// edited or deleted since, so message and conversation events are rendered
// from the current rows instead.
type renderer struct {
	messages      map[string]Message
	conversations map[string]Conversation
}

// messageRef is the part of a stored message payload sync needs.
type messageRef struct {
	ID string `json:"id"`
}

// isMessageEvent reports whether typ carries a message object.
func isMessageEvent(typ string) bool {
	switch typ {
	case events.TypeMessageCreated, events.TypeMessageUpdated, events.TypeMessageDeleted, events.TypeReactionChanged:
		return true
	}
	return false
}

// isConversationEvent reports whether typ carries a conversation object.
func isConversationEvent(typ string) bool {
	switch typ {
	case events.TypeConversationCreated, events.TypeConversationUpdated, events.TypeMembersChanged:
		return true
	}
	return false
}

// newRenderer loads, in one query each, the current state of every message
// and conversation the events refer to.
func (s *Service) newRenderer(ctx context.Context, evs []Event) (*renderer, error) {
	r := &renderer{messages: map[string]Message{}, conversations: map[string]Conversation{}}
	var msgIDs []string
	seen := map[string]bool{}
	convs := map[string]bool{}
	for _, ev := range evs {
		switch {
		case isMessageEvent(ev.Type):
			var ref messageRef
			if err := json.Unmarshal(ev.Payload, &ref); err != nil {
				return nil, fmt.Errorf("chat: sync: stored %s payload: %w", ev.Type, err)
			}
			if !seen[ref.ID] {
				seen[ref.ID] = true
				msgIDs = append(msgIDs, ref.ID)
			}
		case isConversationEvent(ev.Type):
			convs[ev.ConversationID] = true
		}
	}
	if len(msgIDs) > 0 {
		list, err := s.store.MessagesByID(ctx, msgIDs)
		if err != nil {
			return nil, err
		}
		for _, m := range list {
			r.messages[m.ID] = m
		}
	}
	for id := range convs {
		c, err := s.store.Conversation(ctx, id)
		if err != nil {
			return nil, err
		}
		r.conversations[id] = c
	}
	return r, nil
}

// render returns ev as the caller sees it through sync, and false when it
// must be left out:
//   - a message event carries the message as it is now, exactly what REST
//     history shows (tombstone, current body, current reactions). For a
//     former member, a message changed after their period ended is left out:
//     its current state is news from after they left.
//   - a conversation event carries the conversation as it is now for a
//     member; a former member keeps the state logged inside their period
//     (they may not see what it became after they left).
//   - read receipts hold no text and are returned as logged.
func (r *renderer) render(ev Event, sp span) (SyncEvent, bool, error) {
	name, ok := events.SocketEvent(ev.Type)
	if !ok {
		return SyncEvent{}, false, fmt.Errorf("chat: sync: event type %q has no socket event", ev.Type)
	}
	out := SyncEvent{Type: name, ConversationID: ev.ConversationID, EventSeq: ev.EventSeq, Payload: ev.Payload}
	var current any
	switch {
	case isMessageEvent(ev.Type):
		var ref messageRef
		if err := json.Unmarshal(ev.Payload, &ref); err != nil {
			return SyncEvent{}, false, fmt.Errorf("chat: sync: stored %s payload: %w", ev.Type, err)
		}
		m, ok := r.messages[ref.ID]
		if !ok || m.ConversationID != ev.ConversationID || (!sp.active && m.EventSeq > sp.To) {
			return SyncEvent{}, false, nil
		}
		current = m
	case isConversationEvent(ev.Type) && sp.active:
		c, ok := r.conversations[ev.ConversationID]
		if !ok {
			return SyncEvent{}, false, nil
		}
		current = c
	default:
		return out, true, nil
	}
	raw, err := json.Marshal(current)
	if err != nil {
		return SyncEvent{}, false, fmt.Errorf("chat: sync: encode %s: %w", ev.Type, err)
	}
	out.Payload = raw
	return out, true, nil
}
