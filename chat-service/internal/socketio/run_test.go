package socketio

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// TestPanickingCommandAnswers500 checks that a command that panics is
// answered like any server error (500, generic problem) instead of taking
// its worker and the process down.
func TestPanickingCommandAnswers500(t *testing.T) {
	s := &Server{}
	_, err := s.run(context.Background(), func(context.Context, string, json.RawMessage) (any, error) {
		var m map[string]int
		m["boom"]++ // nil map write
		return nil, nil
	}, "u", nil)
	if err == nil {
		t.Fatal("run = nil error, want the panic as an error")
	}
	p := chat.Problem(err).Public("t1")
	if p.Status != 500 || p.Code != "internal" || p.TraceID != "t1" {
		t.Errorf("problem = %+v, want a public 500 with the trace id", p)
	}
}
