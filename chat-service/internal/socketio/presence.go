package socketio

import (
	"context"
	"encoding/json"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/link"
)

// presenceAck answers presence:query: the visible users' states, in the
// order asked.
type presenceAck struct {
	link.Ack
	Presence []chat.PresenceState `json:"presence"`
}

type presenceQueryData struct {
	UserIDs []string `json:"userIds"`
}

func (s *Server) presenceQuery(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in presenceQueryData
	if err := decodeData(raw, &in); err != nil {
		return nil, err
	}
	states, err := s.svc.QueryPresence(ctx, userID, in.UserIDs)
	if err != nil {
		return nil, err
	}
	return presenceAck{Ack: link.OK(), Presence: states}, nil
}
