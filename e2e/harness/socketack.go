package harness

import (
	"encoding/json"
	"fmt"
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
	// RetryAfterMs comes with refusals the client should retry (429, 503).
	RetryAfterMs int64 `json:"retryAfterMs,omitempty"`
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
// Ack whose Err is set when none arrives within timeout or the socket is
// disconnected first.
func (s *Socket) EmitAsync(event string, data any, timeout time.Duration, done func(Ack)) {
	raw, err := json.Marshal(data)
	if err != nil {
		done(Ack{Err: err})
		return
	}
	s.c.Send(event, raw, timeout, func(args json.RawMessage, err error) {
		if err != nil {
			done(Ack{Err: fmt.Errorf("%s: %w", event, err)})
			return
		}
		done(decodeAck(args))
	})
}

func decodeAck(args json.RawMessage) Ack {
	var all []json.RawMessage
	if err := json.Unmarshal(args, &all); err != nil || len(all) != 1 {
		return Ack{Err: fmt.Errorf("ack arguments %s, want one", args)}
	}
	raw := all[0]
	var a Ack
	if err := json.Unmarshal(raw, &a); err != nil {
		return Ack{Raw: raw, Err: fmt.Errorf("decode ack %s: %w", raw, err)}
	}
	a.Raw = raw
	return a
}

// Emit sends a command and waits up to 15 s for its ack. Like the
// documented client, it sends the same command again when chat-service
// refused it as overloaded (503 overloaded, nothing stored or a stored
// send that the resend returns), after the retryAfterMs it was given, up to
// 10 times; every other answer is returned as it came. EmitAsync does not
// retry, for tests of the refusals themselves.
func (s *Socket) Emit(event string, data any) Ack {
	for attempt := 0; ; attempt++ {
		got := make(chan Ack, 1)
		s.EmitAsync(event, data, 15*time.Second, func(a Ack) { got <- a })
		a := <-got
		if attempt == 10 || a.Err != nil || a.OK || a.Error == nil || a.Error.Code != "overloaded" {
			return a
		}
		time.Sleep(time.Duration(min(max(a.RetryAfterMs, 50), 1000)) * time.Millisecond)
	}
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
	if err := s.c.Emit(event, data); err != nil {
		s.t.Fatalf("emit %s: %v", event, err)
	}
}
