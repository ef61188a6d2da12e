package socketio

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/rs/zerolog"
	"github.com/zishang520/socket.io/servers/socket/v3"

	"github.com/parleychat/parley/chat-service/internal/apierr"
	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/trace"
)

// command runs one client command for userID with its decoded data and
// returns the ack body.
type command func(ctx context.Context, userID string, data json.RawMessage) (any, error)

// envelope is the one argument of every forwarded command: the acting
// user's internal token (aud chat-service), the trace, and the client's
// payload untouched.
type envelope struct {
	Token       string          `json:"token"`
	Traceparent string          `json:"traceparent"`
	Data        json.RawMessage `json:"data"`
}

// Ack bodies. They are structs, not maps, so that the Socket.IO encoder
// marshals them as JSON (it would treat raw JSON bytes inside a map as a
// binary attachment).
type (
	messageAck struct {
		OK      bool         `json:"ok"`
		Message chat.Message `json:"message"`
		// Created is false when a send was a retry of an earlier one.
		Created *bool `json:"created,omitempty"`
	}
	okAck struct {
		OK bool `json:"ok"`
	}
	readAck struct {
		OK  bool  `json:"ok"`
		Seq int64 `json:"seq"`
	}
	syncAck struct {
		OK     bool             `json:"ok"`
		Events []chat.SyncEvent `json:"events"`
		Gaps   []chat.Gap       `json:"gaps,omitempty"`
	}
	errorAck struct {
		OK    bool             `json:"ok"`
		Error *problem.Problem `json:"error"`
	}
)

func (s *Server) commands() map[string]command {
	return map[string]command{
		"message:send":      s.send,
		"message:edit":      s.edit,
		"message:delete":    s.delete,
		"conversation:read": s.read,
		"typing":            s.typing,
		"sync":              s.sync,
	}
}

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
	var env envelope
	if len(args) == 1 {
		if raw, err := json.Marshal(args[0]); err == nil {
			_ = json.Unmarshal(raw, &env)
		}
	}
	claims, err := s.verify.Verify(env.Token)
	var userID string
	if err == nil {
		var ok bool
		if userID, ok = chat.ParseID(claims.Subject); !ok {
			err = errors.New("subject is not a user id")
		}
	}
	if err != nil {
		s.log.Debug().Str("event.action", name).Str("error.message", err.Error()).Msg("socket.io command refused: bad token")
		reply(errorAck{Error: problem.ErrUnauthorized.Public("")})
		return
	}
	tc := trace.Continue(env.Traceparent)
	job := func() {
		ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
		defer cancel()
		log := s.log.With().Str("trace.id", tc.TraceID).Str("span.id", tc.SpanID).Str("user.id", userID).Logger()
		ctx = log.WithContext(trace.With(ctx, tc))
		start := time.Now()
		res, err := cmd(ctx, userID, env.Data)
		log.Debug().Str("event.action", name).Dur("event.duration", time.Since(start)).Bool("ok", err == nil).
			Msg("socket.io command")
		if err != nil {
			reply(s.failure(log, name, tc.TraceID, err))
			return
		}
		reply(res)
	}
	if !s.enqueue(userID, job) {
		reply(errorAck{Error: apierr.From(chat.ErrOverloaded).Public(tc.TraceID)})
	}
}

// failure turns err into the ack error, logging server errors with their
// cause (the ack carries only the trace id).
func (s *Server) failure(log zerolog.Logger, name, traceID string, err error) errorAck {
	p := apierr.From(err)
	if p.Status >= 500 {
		logging.ErrorFields(log.Error(), err).Str("event.action", name).Int("http.response.status_code", p.Status).
			Msg("socket.io command failed")
	}
	return errorAck{Error: p.Public(traceID)}
}

// decode reads the client's payload strictly, like the REST bodies.
func decode(raw json.RawMessage, dst any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return chat.Invalid(chat.FieldError{Field: "data", Message: "is required"})
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var typeErr *json.UnmarshalTypeError
		if errors.As(err, &typeErr) {
			return chat.Invalid(chat.FieldError{Field: typeErr.Field, Message: fmt.Sprintf("must be a %s", typeErr.Type.Kind())})
		}
		return chat.Invalid(chat.FieldError{Field: "data", Message: err.Error()})
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return chat.Invalid(chat.FieldError{Field: "data", Message: "must be a single JSON object"})
	}
	return nil
}

func (s *Server) send(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in struct {
		ConversationID string `json:"conversationId"`
		ClientMsgID    string `json:"clientMsgId"`
		Body           string `json:"body"`
		ReplyToID      string `json:"replyToId"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	m, created, err := s.svc.Send(ctx, userID, chat.NewMessage(in))
	if err != nil {
		return nil, err
	}
	return messageAck{OK: true, Message: m, Created: &created}, nil
}

func (s *Server) edit(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in struct {
		ConversationID string `json:"conversationId"`
		MessageID      string `json:"messageId"`
		Body           string `json:"body"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	m, err := s.svc.Edit(ctx, userID, in.ConversationID, in.MessageID, in.Body)
	if err != nil {
		return nil, err
	}
	return messageAck{OK: true, Message: m}, nil
}

func (s *Server) delete(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in struct {
		ConversationID string `json:"conversationId"`
		MessageID      string `json:"messageId"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	m, err := s.svc.Delete(ctx, userID, in.ConversationID, in.MessageID)
	if err != nil {
		return nil, err
	}
	return messageAck{OK: true, Message: m}, nil
}

func (s *Server) read(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in struct {
		ConversationID string `json:"conversationId"`
		Seq            *int64 `json:"seq"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	if in.Seq == nil {
		return nil, chat.Invalid(chat.FieldError{Field: "seq", Message: "is required"})
	}
	r, err := s.svc.MarkRead(ctx, userID, in.ConversationID, *in.Seq)
	if err != nil {
		return nil, err
	}
	return readAck{OK: true, Seq: r.Seq}, nil
}

func (s *Server) typing(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in struct {
		ConversationID string `json:"conversationId"`
		Typing         bool   `json:"typing"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	if err := s.svc.Typing(ctx, userID, in.ConversationID, in.Typing); err != nil {
		return nil, err
	}
	return okAck{OK: true}, nil
}

func (s *Server) sync(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in struct {
		Conversations map[string]int64 `json:"conversations"`
	}
	if err := decode(raw, &in); err != nil {
		return nil, err
	}
	res, err := s.svc.Sync(ctx, userID, in.Conversations)
	if err != nil {
		return nil, err
	}
	return syncAck{OK: true, Events: res.Events, Gaps: res.Gaps}, nil
}
