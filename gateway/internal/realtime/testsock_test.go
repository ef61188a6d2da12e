package realtime

import (
	"encoding/json"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/parleychat/parley/shared/sioclient"
)

// testSock is a WebSocket client of the rig's server over shared/sioclient,
// with the handful of calls the tests make (On, Emit, Connected,
// Disconnect). Events are decoded as the JSON values the server sent.
type testSock struct {
	c *sioclient.Client

	mu       sync.Mutex
	handlers map[string][]func(...any)
	gone     bool   // the connection has ended and "disconnect" fired
	reason   string // why it ended, as Socket.IO clients name it
}

func newTestSock() *testSock { return &testSock{handlers: map[string][]func(...any){}} }

// onEvent is the client's OnEvent: it runs the name's handlers with the
// event's arguments decoded.
func (s *testSock) onEvent(name string, raw []json.RawMessage) {
	args := make([]any, len(raw))
	for i, r := range raw {
		_ = json.Unmarshal(r, &args[i])
	}
	s.mu.Lock()
	hs := slices.Clone(s.handlers[name])
	s.mu.Unlock()
	for _, h := range hs {
		h(args...)
	}
}

// watch fires "disconnect" with the reason once the connection has ended.
func (s *testSock) watch() {
	<-s.c.Done()
	reason := "transport close"
	switch err := s.c.Err(); {
	case errors.Is(err, sioclient.ErrServerDisconnect):
		reason = "io server disconnect"
	case errors.Is(err, sioclient.ErrClosed):
		reason = "io client disconnect"
	}
	s.mu.Lock()
	s.gone, s.reason = true, reason
	hs := slices.Clone(s.handlers["disconnect"])
	s.mu.Unlock()
	for _, h := range hs {
		h(reason)
	}
}

// On registers fn for the event name; "disconnect" gets the reason, and
// fires at once when the connection has ended already, so a handler
// registered late still hears of it.
func (s *testSock) On(name string, fn func(...any)) {
	s.mu.Lock()
	s.handlers[name] = append(s.handlers[name], fn)
	gone, reason := s.gone, s.reason
	s.mu.Unlock()
	if name == "disconnect" && gone {
		fn(reason)
	}
}

// Emit sends event with data; with ack, ack gets the ack's arguments
// (decoded), or the error when none came within 10 s or the connection
// ended.
func (s *testSock) Emit(event string, data any, ack ...func([]any, error)) error {
	if len(ack) == 0 {
		return s.c.Emit(event, data)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return err
	}
	s.c.Send(event, raw, 10*time.Second, func(args json.RawMessage, err error) {
		var out []any
		if err == nil {
			err = json.Unmarshal(args, &out)
		}
		ack[0](out, err)
	})
	return nil
}

// Connected reports whether the connection is up.
func (s *testSock) Connected() bool { return s.c.Alive() }

// Disconnect closes the connection and waits until it is closed.
func (s *testSock) Disconnect() { _ = s.c.Close() }

// ID is the socket's id on the server.
func (s *testSock) ID() string { return s.c.ID() }
