package realtime

import (
	"encoding/json"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/shared/input"
	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/trace"
)

// commands are the client events forwarded to chat-service with an ack
// (the design brief's Socket.IO table); typing is forwarded without one.
var commands = []string{link.MessageSend, link.MessageEdit, link.MessageDelete, link.ConversationRead, link.Sync, link.PresenceQuery}

// Commander carries commands to chat-service.
type Commander interface {
	// Send emits event with payload for the user userID (whose commands
	// stay ordered) and calls reply once with the ack's arguments, or with
	// an error ack on timeout or when the link is down. A nil reply sends
	// without asking for an ack.
	Send(userID, event string, payload map[string]any, timeout time.Duration, reply func([]any))
}

// onEvent is a socket's one listener for the events its client sends
// (the library's any-listener, which gets the event name first and the
// ack last): the commands and typing. One listener instead of one per
// event keeps the library's per-event bookkeeping off every idle socket;
// other events are ignored, as they were without a listener. The
// any-listener runs on the connection's reader; the handler is queued on
// the socket's task queue, where the library runs per-event listeners, so
// a command never holds up reading (pongs included) and one socket's
// events stay in order; one that arrives after the disconnect is dropped.
func (s *Server) onEvent(sock *socket.Socket, c *conn) func(...any) {
	return func(args ...any) {
		if len(args) == 0 {
			return
		}
		event, _ := args[0].(string)
		var handle func()
		switch {
		case event == link.Typing:
			handle = func() { s.onTyping(c, args[1:]) }
		case slices.Contains(commands, event):
			handle = func() { s.onCommand(c, event, args[1:]) }
		default:
			return
		}
		sock.Enqueue(func() {
			if sock.Connected() {
				handle()
			}
		})
	}
}

// onCommand forwards one command event: the user's identity travels as a
// fresh internal token minted for this command, never as anything the
// client sent, and chat-service's ack goes back to the client unchanged but
// for a traceId added to a failure that lacks one. A payload with text no
// service could store (invalid UTF-8, NUL) is refused here with the field
// at fault, as REST refuses such a body. While chat-service refuses
// commands as overloaded, the gateway refuses some itself the same way
// (shedder), without the trip.
func (s *Server) onCommand(c *conn, event string, args []any) {
	tc := trace.New()
	ack, data := splitAck(args)
	ack = onceAck(ack)
	defer s.recoverCommand(event, tc, ack)
	if !s.begin() {
		if ack != nil {
			ack(stoppingAck(tc.TraceID), nil)
		}
		return
	}
	// The command is in flight until its ack is written (Drain waits
	// for that), or until it is forwarded when it has no ack.
	finish, forwarded := sync.OnceFunc(s.end), false
	defer func() {
		if !forwarded {
			finish()
		}
	}()
	if bad := input.Strings(data); len(bad) > 0 {
		if ack != nil {
			ack(failedAck(link.Failed(problem.Validation(bad...).Public(tc.TraceID))), nil)
		}
		return
	}
	tok, err := s.minter.Mint(c.id, token.AudienceChat)
	if err != nil {
		logging.ErrorFields(s.log.Error(), err).Str("trace.id", tc.TraceID).Msg("mint internal token for a command")
		if ack != nil {
			ack(failedAck(link.Failed(problem.ErrInternal.Public(tc.TraceID))), nil)
		}
		return
	}
	payload := map[string]any{"token": tok, "traceparent": tc.String(), "data": data}
	if ack == nil {
		s.link.Send(c.id.UserID, event, payload, s.opts.CommandTimeout, nil)
		return
	}
	start := time.Now()
	answer := func(res []any, h ackHead) {
		if h.code != "ok" && h.traceID == "" {
			res = withTraceID(res, tc.TraceID)
		}
		status, code := h.status, h.code
		took := time.Since(start)
		if s.commands != nil {
			s.commands.Observe(event, code, took)
		}
		var ev *zerolog.Event
		switch {
		case code == link.CodeOverloaded || status == http.StatusTooManyRequests:
			ev = s.refusedLog.Warn()
		case status >= 500:
			// Server-side failures (timeouts, link down, chat-service
			// errors) are what SREs search for; shipped like 5xx.
			ev = s.cmdLog.Error()
		case status >= 400:
			ev = s.cmdLog.Warn()
		default:
			ev = s.okLog.Info()
		}
		ev.Str("trace.id", tc.TraceID).Str("span.id", tc.SpanID).Str("user.id", c.id.UserID).
			Str("socketio.event", event).Int("socketio.ack.status", status).Str("error.code", code).
			Dur("event.duration", took).Msg("command " + event)
		ack(res, nil)
		finish()
	}
	forwarded = true
	if !s.shed.admit(start) {
		if s.shedCount != nil {
			s.shedCount.Inc()
		}
		res := shedAck(tc.TraceID)
		answer(res, headOf(res))
		return
	}
	s.link.Send(c.id.UserID, event, payload, s.opts.CommandTimeout, func(res []any) {
		h := headOf(res)
		s.shed.done(time.Now(), h.code == link.CodeOverloaded)
		answer(res, h)
	})
}

// ackHead is what the gateway reads of an ack: its outcome. The ack
// itself goes to the client as it came.
type ackHead struct {
	status  int    // 200 for {ok:true}, error.status of a failure, 0 for neither shape
	code    string // "ok", error.code of a failure, "unknown" otherwise
	traceID string // error.traceId of a failure
}

// wireAck is the shape of an ack's first argument; only these fields are
// decoded from chat-service's JSON.
type wireAck struct {
	OK    bool         `json:"ok"`
	Error *wireProblem `json:"error"`
}

type wireProblem struct {
	Status  json.Number `json:"status"`
	Code    string      `json:"code"`
	TraceID string      `json:"traceId"`
}

// headOf reads the outcome of an ack: chat-service's arrive as JSON
// (json.RawMessage, passed to the client untouched), the gateway's own as
// plain maps.
func headOf(res []any) ackHead {
	h := ackHead{code: "unknown"}
	if len(res) == 0 {
		return h
	}
	raw, isJSON := res[0].(json.RawMessage)
	if m, isMap := res[0].(map[string]any); isMap {
		raw, _ = json.Marshal(m) // the gateway's own acks, a few small fields
		isJSON = true
	}
	var a wireAck
	if !isJSON || json.Unmarshal(raw, &a) != nil {
		return h
	}
	if a.OK {
		return ackHead{status: http.StatusOK, code: "ok"}
	}
	if a.Error == nil {
		return h
	}
	if n, err := a.Error.Status.Int64(); err == nil && n >= 100 && n <= 599 {
		h.status = int(n)
	}
	if c := a.Error.Code; c != "" && len(c) <= 40 {
		h.code = c
	}
	h.traceID = a.Error.TraceID
	return h
}

// ackStatus is the error status of an {ok:false, error:{status}} ack, 200
// for a successful one and 0 when it has neither shape.
func ackStatus(res []any) int { return headOf(res).status }

// commandNames bound the command label of the metrics.
var commandNames = link.Commands

// ackCode is "ok" for a successful ack, the problem code of a failed one,
// and "unknown" for an ack of neither shape: a bounded label value.
func ackCode(res []any) string { return headOf(res).code }

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

// typingSignal reads a client's typing payload: {conversationId, typing}.
// ok is false for anything else, and for text no service could store
// (there is no ack to carry a refusal, so such a signal is dropped).
func typingSignal(data any) (m map[string]any, convID string, typing, ok bool) {
	m, ok = data.(map[string]any)
	if !ok {
		return nil, "", false, false
	}
	convID, _ = m["conversationId"].(string)
	typing, _ = m["typing"].(bool)
	if convID == "" || len(input.Strings(m)) > 0 {
		return nil, "", false, false
	}
	return m, convID, typing, true
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
func (s *Server) onTyping(c *conn, args []any) {
	// The library recovers a panic in a per-event listener, not in an
	// any-listener, where it would end the socket's reader.
	defer s.recoverEvent(link.Typing)
	_, data := splitAck(args)
	m, convID, typing, ok := typingSignal(data)
	if !ok {
		return
	}
	now := time.Now()
	c.mu.Lock()
	last, seen := c.typing[convID]
	if seen && last.typing == typing && now.Sub(last.at) < s.opts.TypingInterval {
		c.mu.Unlock()
		return
	}
	switch {
	case c.typing == nil:
		// Made on the first signal: most sockets never send one.
		c.typing = make(map[string]typingState)
	case len(c.typing) >= maxTypingEntries:
		clear(c.typing)
	}
	c.typing[convID] = typingState{at: now, typing: typing}
	c.mu.Unlock()

	tok, err := s.minter.Mint(c.id, token.AudienceChat)
	if err != nil {
		return
	}
	s.link.Send(c.id.UserID, link.Typing, map[string]any{"token": tok, "traceparent": trace.New().String(), "data": m}, 0, nil)
}
