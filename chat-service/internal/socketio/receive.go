package socketio

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"time"

	"github.com/rs/zerolog"
	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/input"
	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/trace"
)

// command runs one client command for userID with its payload and returns
// the ack body.
type command func(ctx context.Context, userID string, data json.RawMessage) (any, error)

// errBadSubject refuses a per-command token whose subject is not a user.
var errBadSubject = errors.New("subject is not a user id")

// receive authenticates one command and queues it on the user's worker;
// the ack (when the gateway asked for one) is sent when it finishes.
func (s *Server) receive(name string, cmd command, args []any) {
	var ack socket.Ack
	if n := len(args); n > 0 {
		if a, ok := args[n-1].(socket.Ack); ok {
			ack, args = a, args[:n-1]
		}
	}
	reply := func(v any) {
		if ack != nil {
			ack([]any{v}, nil)
		}
	}
	var env link.Envelope
	if len(args) == 1 {
		env = envelopeOf(args[0])
	}
	tc := trace.Continue(env.Traceparent)
	userID, err := s.user(env.Token)
	if err != nil {
		s.log.Debug().Str("event.action", name).Str("error.message", err.Error()).Msg("socket.io command refused: bad token")
		reply(link.Failed(problem.ErrUnauthorized.Public(tc.TraceID)))
		return
	}
	job := func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		log := s.log.With().Str("trace.id", tc.TraceID).Str("span.id", tc.SpanID).Str("user.id", userID).Logger()
		ctx = log.WithContext(trace.With(ctx, tc))
		start := time.Now()
		res, err := s.run(ctx, cmd, userID, env.Data)
		s.observe(name, err, time.Since(start))
		if err == nil {
			// Successful commands at info, sampled (logging.Sampled), with
			// the trace the gateway started; failures are logged below.
			s.okLog.Info().Str("trace.id", tc.TraceID).Str("span.id", tc.SpanID).Str("user.id", userID).
				Str("event.action", name).Dur("event.duration", time.Since(start)).Msg("socket.io command")
		}
		if err != nil {
			reply(s.failure(log, name, tc.TraceID, err))
			return
		}
		reply(res)
	}
	refuse := func() {
		s.observe(name, chat.ErrOverloaded, 0)
		reply(link.Failed(public(chat.ErrOverloaded, tc.TraceID)))
	}
	if err := s.workers.submit(userID, job, refuse); err != nil {
		s.observe(name, err, 0)
		reply(link.Failed(public(err, tc.TraceID)))
	}
}

// user verifies a per-command token and returns its subject, which must be
// a user id.
func (s *Server) user(tok string) (string, error) {
	claims, err := s.verify.Verify(tok)
	if err != nil {
		return "", err
	}
	id, ok := input.ParseID(claims.Subject)
	if !ok {
		return "", errBadSubject
	}
	return id, nil
}

// run calls cmd, turning a panic into an error so that one bad command
// answers 500 instead of taking the worker (and the process) down.
func (s *Server) run(ctx context.Context, cmd command, userID string, data json.RawMessage) (res any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v\n%s", r, debug.Stack())
		}
	}()
	return cmd(ctx, userID, data)
}

// failure turns err into the ack error, logging server errors with their
// cause (the ack carries only the trace id, like a REST problem).
func (s *Server) failure(log zerolog.Logger, name, traceID string, err error) link.Ack {
	p := chat.Problem(err)
	// Overload refusals are expected under load and counted in metrics; a
	// log line each would add to the load.
	if p.Status >= 500 && !errors.Is(err, chat.ErrOverloaded) {
		logging.ErrorFields(log.Error(), err).Str("event.action", name).Int("http.response.status_code", p.Status).
			Msg("socket.io command failed")
	}
	return link.Failed(public(err, traceID))
}

// public is err as the ack carries it (Problem.Public: a 503 overloaded
// keeps its code, DESIGN §9; other server errors say nothing internal).
func public(err error, traceID string) *problem.Problem {
	return chat.Problem(err).Public(traceID)
}

// envelopeOf reads the envelope the Socket.IO decoder handed over. It is
// a JSON object decoded into a map: token and traceparent are taken as they
// are and only data is encoded again, for the strict decoding of each
// command (decodeData), instead of encoding the whole envelope (with its
// token) and decoding it once more. Anything else goes the long way.
func envelopeOf(arg any) link.Envelope {
	m, ok := arg.(map[string]any)
	if !ok {
		raw, err := json.Marshal(arg)
		if err != nil {
			return link.Envelope{}
		}
		env, _ := decodeEnvelope(raw)
		return env
	}
	var env link.Envelope
	env.Token, _ = m["token"].(string)
	env.Traceparent, _ = m["traceparent"].(string)
	if d, ok := m["data"]; ok {
		if raw, err := json.Marshal(d); err == nil {
			env.Data = raw
		}
	}
	return env
}

// decodeEnvelope reads a command's envelope. Like every link reader it is
// tolerant: unknown fields are ignored, so a newer gateway may add some.
// What it holds is checked by its users (the token is verified, the
// traceparent parsed or replaced, the data decoded strictly).
func decodeEnvelope(raw []byte) (link.Envelope, error) {
	var env link.Envelope
	err := json.Unmarshal(raw, &env)
	return env, err
}

// observe records a command's outcome ("ok" or its problem code) and
// latency, when metrics are on.
func (s *Server) observe(name string, err error, took time.Duration) {
	if s.metrics == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = chat.Problem(err).Code
	}
	s.metrics.Observe(name, outcome, took)
}
