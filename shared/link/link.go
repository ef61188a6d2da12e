// Package link is the contract of the Socket.IO link between the gateway and
// chat-service: the command names the gateway forwards, the one envelope every
// command travels in, and the ack shape chat-service answers with. Both sides
// use these types, so the contract cannot drift between them.
//
// Readers are tolerant (unknown fields are ignored, so a newer peer may add
// fields); writers send exactly these fields.
package link

import (
	"encoding/json"

	"github.com/parleychat/parley/shared/problem"
)

// Command names forwarded from client sockets to chat-service.
const (
	MessageSend      = "message:send"
	MessageEdit      = "message:edit"
	MessageDelete    = "message:delete"
	ConversationRead = "conversation:read"
	Typing           = "typing"
	Sync             = "sync"
	// PresenceQuery asks for the current presence of users who share a
	// conversation with the caller; others are answered as unknown.
	PresenceQuery = "presence:query"
)

// Commands lists every command name, in a stable order.
var Commands = []string{MessageSend, MessageEdit, MessageDelete, ConversationRead, Typing, Sync, PresenceQuery}

// Envelope is the one argument of every forwarded command: the acting user's
// internal token (aud chat-service), the W3C traceparent of the client's
// command, and the client's payload untouched.
type Envelope struct {
	Token       string          `json:"token"`
	Traceparent string          `json:"traceparent"`
	Data        json.RawMessage `json:"data"`
}

// CodeOverloaded is the problem code of a command refused by chat-service's
// admission control (503, retryable after RetryAfterMs): the one 503 that
// is the stack protecting itself rather than failing.
const CodeOverloaded = problem.CodeOverloaded

// Ack is the common part of every answer: ok, and on failure the problem
// (status, code, detail, traceId, field errors) as REST would have written it.
// RetryAfterMs, set with 429 and 503 overloaded, tells the client when to try
// again. Successful acks embed Ack and add their own fields.
type Ack struct {
	OK           bool             `json:"ok"`
	Error        *problem.Problem `json:"error,omitempty"`
	RetryAfterMs int64            `json:"retryAfterMs,omitempty"`
}

// OK is the ack of a command that succeeded with nothing more to say.
func OK() Ack { return Ack{OK: true} }

// Failed is the ack of a command refused with p.
func Failed(p *problem.Problem) Ack {
	a := Ack{Error: p}
	if p != nil && p.RetryAfter > 0 {
		a.RetryAfterMs = int64(p.RetryAfter) * 1000
	}
	return a
}
