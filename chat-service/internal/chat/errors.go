package chat

import (
	"errors"
	"time"
)

// ErrorKind classifies a domain error; the transports map each kind to one
// HTTP status (REST) or ack error status (Socket.IO) in a single place.
type ErrorKind int

// Error kinds.
const (
	KindInvalid ErrorKind = iota + 1
	KindNotFound
	KindForbidden
	KindConflict
	KindRateLimited
	KindOverloaded
)

// FieldError names one invalid input field.
type FieldError struct {
	Field   string
	Message string
}

// Error is the one domain error type: a kind, a stable code clients can
// switch on, a human detail, and for validation the fields at fault.
type Error struct {
	Kind       ErrorKind
	Code       string
	Detail     string
	Fields     []FieldError
	RetryAfter time.Duration
}

// Error implements error.
func (e *Error) Error() string {
	if e.Detail != "" {
		return e.Code + ": " + e.Detail
	}
	return e.Code
}

// Is makes errors.Is match two errors of the same kind and code, so callers
// can compare against the sentinels even when a copy carries more detail.
func (e *Error) Is(target error) bool {
	var t *Error
	if !errors.As(target, &t) {
		return false
	}
	return t.Kind == e.Kind && t.Code == e.Code
}

// Sentinel errors. ErrNotFound is also what a non-member gets for a
// conversation or message that exists, so membership cannot be probed.
var (
	ErrNotFound        = &Error{Kind: KindNotFound, Code: "not_found", Detail: "the resource does not exist"}
	ErrForbidden       = &Error{Kind: KindForbidden, Code: "forbidden", Detail: "your role does not allow this"}
	ErrNotAuthor       = &Error{Kind: KindForbidden, Code: "not_author", Detail: "only the author may do this"}
	ErrDirectFixed     = &Error{Kind: KindConflict, Code: "direct_conversation", Detail: "a direct conversation always has exactly its two members"}
	ErrMessageDeleted  = &Error{Kind: KindConflict, Code: "message_deleted", Detail: "the message was deleted"}
	ErrClientIDReused  = &Error{Kind: KindConflict, Code: "client_msg_id_reused", Detail: "this clientMsgId was already used for a message in another conversation"}
	ErrMembersLimit    = &Error{Kind: KindConflict, Code: "too_many_members", Detail: "a group has at most 256 members"}
	ErrRateLimited     = &Error{Kind: KindRateLimited, Code: "rate_limited", Detail: "too many messages, slow down"}
	ErrOverloaded      = &Error{Kind: KindOverloaded, Code: "overloaded", Detail: "the service is busy, retry shortly"}
	errConflictingTx   = errors.New("chat: concurrent change won")
	errRollbackNoError = errors.New("chat: nothing changed")
)

// Invalid returns a validation error listing the fields at fault.
func Invalid(fields ...FieldError) *Error {
	return &Error{Kind: KindInvalid, Code: "validation_failed", Detail: "one or more fields are invalid", Fields: fields}
}

// rateLimited returns ErrRateLimited telling the client when to retry.
func rateLimited(after time.Duration) *Error {
	e := *ErrRateLimited
	e.RetryAfter = after
	return &e
}
