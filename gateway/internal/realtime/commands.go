package realtime

import (
	"time"

	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/trace"
)

// commands are the client events forwarded to chat-service with an ack
// (DESIGN §5); typing is forwarded without one.
var commands = []string{"message:send", "message:edit", "message:delete", "conversation:read", "sync"}

// Commander carries commands to chat-service.
type Commander interface {
	// Send emits event with payload and calls reply once with the ack's
	// arguments, or with an error ack on timeout or when the link is down.
	// A nil reply sends without asking for an ack.
	Send(event string, payload map[string]any, timeout time.Duration, reply func([]any))
}

// errorAck is the ack a client gets when the gateway, not chat-service,
// answers.
func errorAck(status int, code, detail string) []any {
	return []any{map[string]any{"ok": false, "error": map[string]any{"status": status, "code": code, "detail": detail}}}
}

// onCommand forwards one command event: the user's identity travels as a
// fresh internal token minted for this command, never as anything the
// client sent, and chat-service's ack goes back to the client unchanged.
func (s *Server) onCommand(sock *socket.Socket, c *conn, event string) {
	sock.On(event, func(args ...any) {
		ack, data := splitAck(args)
		tc := trace.New()
		tok, err := s.minter.Mint(c.id, token.AudienceChat)
		if err != nil {
			logging.ErrorFields(s.log.Error(), err).Str("trace.id", tc.TraceID).Msg("mint internal token for a command")
			if ack != nil {
				ack(errorAck(500, "internal", "an internal error occurred; retry"), nil)
			}
			return
		}
		payload := map[string]any{"token": tok, "traceparent": tc.String(), "data": data}
		start := time.Now()
		var reply func([]any)
		if ack != nil {
			reply = func(res []any) {
				status := ackStatus(res)
				ev := s.log.Debug()
				if status >= 500 {
					// Server-side failures (timeouts, link down, chat-service
					// errors) are what SREs search for; shipped like 5xx.
					ev = s.log.Error()
				}
				ev.Str("trace.id", tc.TraceID).Str("span.id", tc.SpanID).Str("user.id", c.id.UserID).
					Str("socketio.event", event).Int("socketio.ack.status", status).
					Dur("event.duration", time.Since(start)).Str("event.dataset", "socketio.command").
					Msg("command " + event)
				ack(res, nil)
			}
		}
		s.link.Send(event, payload, s.opts.CommandTimeout, reply)
	})
}

// ackStatus is the error status of an {ok:false, error:{status}} ack, 200
// for a successful one and 0 when it has neither shape.
func ackStatus(res []any) int {
	if len(res) == 0 {
		return 0
	}
	m, _ := res[0].(map[string]any)
	if ok, _ := m["ok"].(bool); ok {
		return 200
	}
	e, _ := m["error"].(map[string]any)
	switch v := e["status"].(type) {
	case float64:
		return int(v)
	case int:
		return v
	}
	return 0
}

// splitAck separates the ack callback (the last argument, when the client
// asked for one) from the payload (the first argument).
func splitAck(args []any) (socket.Ack, any) {
	var ack socket.Ack
	if n := len(args); n > 0 {
		if a, ok := args[n-1].(socket.Ack); ok {
			ack, args = a, args[:n-1]
		}
	}
	var data any
	if len(args) > 0 {
		data = args[0]
	}
	return ack, data
}

// typingState is the last typing signal forwarded for a conversation.
type typingState struct {
	at     time.Time
	typing bool
}

// maxTypingEntries bounds the per-socket throttle map; a client cycling
// through conversation ids only resets its own throttle.
const maxTypingEntries = 256

// onTyping forwards a typing signal unless the same state for the same
// conversation went out less than TypingInterval ago. A change of state
// (stopped typing) always goes through.
func (s *Server) onTyping(sock *socket.Socket, c *conn, args []any) {
	_, data := splitAck(args)
	m, ok := data.(map[string]any)
	if !ok {
		return
	}
	convID, _ := m["conversationId"].(string)
	typing, _ := m["typing"].(bool)
	if convID == "" {
		return
	}
	now := time.Now()
	c.mu.Lock()
	last, seen := c.typing[convID]
	if seen && last.typing == typing && now.Sub(last.at) < s.opts.TypingInterval {
		c.mu.Unlock()
		return
	}
	if len(c.typing) >= maxTypingEntries {
		clear(c.typing)
	}
	c.typing[convID] = typingState{at: now, typing: typing}
	c.mu.Unlock()

	tok, err := s.minter.Mint(c.id, token.AudienceChat)
	if err != nil {
		return
	}
	s.link.Send("typing", map[string]any{"token": tok, "traceparent": trace.New().String(), "data": m}, 0, nil)
}
