package socketio

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/jsonbody"
	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/problem"
)

// Ack bodies: link.Ack plus each command's result. They are structs, not
// maps, so that the Socket.IO encoder marshals them as JSON (it would treat
// raw JSON bytes inside a map as a binary attachment).
type (
	messageAck struct {
		link.Ack
		Message chat.Message `json:"message"`
		// Created is false when a send was a retry of an earlier one.
		Created *bool `json:"created,omitempty"`
	}
	readAck struct {
		link.Ack
		Seq int64 `json:"seq"`
	}
	syncAck struct {
		link.Ack
		Events []chat.SyncEvent `json:"events"`
		Gaps   []chat.Gap       `json:"gaps,omitempty"`
	}
)

// Payloads of the commands, decoded strictly (see decodeData).
type (
	sendData struct {
		ConversationID string `json:"conversationId"`
		ClientMsgID    string `json:"clientMsgId"`
		Body           string `json:"body"`
		ReplyToID      string `json:"replyToId"`
	}
	editData struct {
		ConversationID string `json:"conversationId"`
		MessageID      string `json:"messageId"`
		Body           string `json:"body"`
	}
	deleteData struct {
		ConversationID string `json:"conversationId"`
		MessageID      string `json:"messageId"`
	}
	readData struct {
		ConversationID string `json:"conversationId"`
		Seq            *int64 `json:"seq"`
	}
	typingData struct {
		ConversationID string `json:"conversationId"`
		Typing         bool   `json:"typing"`
	}
	syncData struct {
		Conversations map[string]int64 `json:"conversations"`
	}
)

// handlers maps every link command name to its handler.
func (s *Server) handlers() map[string]command {
	return map[string]command{
		link.MessageSend:      s.send,
		link.MessageEdit:      s.edit,
		link.MessageDelete:    s.delete,
		link.ConversationRead: s.read,
		link.Typing:           s.typing,
		link.Sync:             s.sync,
		link.PresenceQuery:    s.presenceQuery,
	}
}

// decodeData reads a client's payload as strictly as a REST body
// (jsonbody.Unmarshal): one JSON object, no unknown fields, exact types,
// valid UTF-8 and no NUL in any string, each refusal a 400 naming the
// field ("data" for the payload as a whole).
func decodeData(raw json.RawMessage, dst any) error {
	if len(raw) == 0 || string(raw) == "null" {
		return chat.Invalid(chat.FieldError{Field: "data", Message: "is required"})
	}
	err := jsonbody.Unmarshal(raw, dst)
	var p *problem.Problem
	if errors.As(err, &p) {
		out := *p
		out.Errors = make([]problem.FieldError, len(p.Errors))
		for i, f := range p.Errors {
			if f.Field == "" {
				f.Field = "data"
			}
			out.Errors[i] = f
		}
		return &out
	}
	return err
}

func (s *Server) send(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in sendData
	if err := decodeData(raw, &in); err != nil {
		return nil, err
	}
	m, created, err := s.svc.Send(ctx, userID, chat.NewMessage(in))
	if err != nil {
		return nil, err
	}
	return messageAck{Ack: link.OK(), Message: m, Created: &created}, nil
}

func (s *Server) edit(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in editData
	if err := decodeData(raw, &in); err != nil {
		return nil, err
	}
	m, err := s.svc.Edit(ctx, userID, in.ConversationID, in.MessageID, in.Body)
	if err != nil {
		return nil, err
	}
	return messageAck{Ack: link.OK(), Message: m}, nil
}

func (s *Server) delete(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in deleteData
	if err := decodeData(raw, &in); err != nil {
		return nil, err
	}
	m, err := s.svc.Delete(ctx, userID, in.ConversationID, in.MessageID)
	if err != nil {
		return nil, err
	}
	return messageAck{Ack: link.OK(), Message: m}, nil
}

func (s *Server) read(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in readData
	if err := decodeData(raw, &in); err != nil {
		return nil, err
	}
	if in.Seq == nil {
		return nil, chat.Invalid(chat.FieldError{Field: "seq", Message: "is required"})
	}
	r, err := s.svc.MarkRead(ctx, userID, in.ConversationID, *in.Seq)
	if err != nil {
		return nil, err
	}
	return readAck{Ack: link.OK(), Seq: r.Seq}, nil
}

func (s *Server) typing(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in typingData
	if err := decodeData(raw, &in); err != nil {
		return nil, err
	}
	if err := s.svc.Typing(ctx, userID, in.ConversationID, in.Typing); err != nil {
		return nil, err
	}
	return link.OK(), nil
}

func (s *Server) sync(ctx context.Context, userID string, raw json.RawMessage) (any, error) {
	var in syncData
	if err := decodeData(raw, &in); err != nil {
		return nil, err
	}
	res, err := s.svc.Sync(ctx, userID, in.Conversations)
	if err != nil {
		return nil, err
	}
	return syncAck{Ack: link.OK(), Events: res.Events, Gaps: res.Gaps}, nil
}
