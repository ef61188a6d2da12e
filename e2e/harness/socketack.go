package harness

import (
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/parleychat/parley/shared/problem"
)

// Ack is a command acknowledgement (DESIGN §5; chat-service's README).
type Ack struct {
	OK      bool             `json:"ok"`
	Created *bool            `json:"created,omitempty"`
	Message *Message         `json:"message,omitempty"`
	Seq     int64            `json:"seq,omitempty"`
	Events  []SyncEvent      `json:"events,omitempty"`
	Gaps    []Gap            `json:"gaps,omitempty"`
	Error   *problem.Problem `json:"error,omitempty"`
	// Raw is the ack as received; Err is set when none arrived (timeout,
	// disconnect) or it did not decode.
	Raw json.RawMessage `json:"-"`
	Err error           `json:"-"`
}

// String shows the ack for failure messages.
func (a Ack) String() string {
	if a.Err != nil {
		return "no ack: " + a.Err.Error()
	}
	return string(a.Raw)
}

// EmitAsync sends a command and calls done once with its ack, or with an
// Ack whose Err is set when none arrives within timeout.
func (s *Socket) EmitAsync(event string, data any, timeout time.Duration, done func(Ack)) {
	var once sync.Once
	finish := func(a Ack) { once.Do(func() { done(a) }) }
	timer := time.AfterFunc(timeout, func() { finish(Ack{Err: fmt.Errorf("%s: no ack within %s", event, timeout)}) })
	err := s.sock.Emit(event, data, func(args []any, err error) {
		timer.Stop()
		if err != nil {
			finish(Ack{Err: err})
			return
		}
		finish(decodeAck(args))
	})
	if err != nil {
		timer.Stop()
		finish(Ack{Err: err})
	}
}

func decodeAck(args []any) Ack {
	if len(args) != 1 {
		return Ack{Err: fmt.Errorf("ack has %d arguments, want 1: %v", len(args), args)}
	}
	raw, err := json.Marshal(args[0])
	if err != nil {
		return Ack{Err: err}
	}
	var a Ack
	if err := json.Unmarshal(raw, &a); err != nil {
		return Ack{Raw: raw, Err: fmt.Errorf("decode ack %s: %w", raw, err)}
	}
	a.Raw = raw
	return a
}

// Emit sends a command and waits up to 15 s for its ack.
func (s *Socket) Emit(event string, data any) Ack {
	got := make(chan Ack, 1)
	s.EmitAsync(event, data, 15*time.Second, func(a Ack) { got <- a })
	return <-got
}

// MustEmit is Emit failing the test unless the ack is ok.
func (s *Socket) MustEmit(event string, data any) Ack {
	s.t.Helper()
	a := s.Emit(event, data)
	if a.Err != nil || !a.OK {
		s.t.Fatalf("%s %v: ack %s, want ok", event, data, a)
	}
	return a
}

// Send emits an event without asking for an ack (typing).
func (s *Socket) Send(event string, data any) {
	s.t.Helper()
	if err := s.sock.Emit(event, data); err != nil {
		s.t.Fatalf("emit %s: %v", event, err)
	}
}
