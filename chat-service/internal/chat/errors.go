package chat

import (
	"context"
	"errors"
	"math"
	"net/http"
	"time"

	"github.com/parleychat/parley/shared/pgdb"
	"github.com/parleychat/parley/shared/problem"
)

// ErrorKind classifies a domain error; Problem maps each kind to one status,
// which REST writes as problem+json and the Socket.IO link puts in its ack.
type ErrorKind int

// Error kinds.
const (
	KindInvalid ErrorKind = iota + 1
	KindNotFound
	KindForbidden
	KindConflict
	KindRateLimited
	KindOverloaded
	// KindUnknownReference: a well-formed id in a body that names nothing
	// the caller may use (422): the request is valid, its target missing.
	KindUnknownReference
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
	ErrOverloaded      = &Error{Kind: KindOverloaded, Code: problem.CodeOverloaded, Detail: problem.ErrOverloaded.Detail}
	ErrTooManyCommands = &Error{Kind: KindRateLimited, Code: "too_many_commands", Detail: "too many of your commands are waiting; retry shortly", RetryAfter: time.Second}
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

// Problem is chat-service's one mapping from errors to problems, used by
// REST (problem.Write) and the Socket.IO link (its ack error) alike, so both
// transports fail with the same status, code, fields and retry hint. Domain
// errors keep their code and fields; a *problem.Problem (from request
// decoding) passes through; a cancelled context is 503, and so is a
// database out of reach (with a retry hint); anything else is a 500
// wrapping err for the log.
func Problem(err error) *problem.Problem {
	var de *Error
	var p *problem.Problem
	switch {
	case errors.As(err, &de):
		return fromDomain(de)
	case errors.As(err, &p):
		return p
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem.ErrUnavailable.Wrap(err)
	case pgdb.Unavailable(err):
		// PostgreSQL restarting or out of reach: nothing was stored, and a
		// resend with the same clientMsgId a second later is safe.
		return problem.RetryLater(err)
	default:
		return problem.ErrInternal.Wrap(err)
	}
}

var statusOf = map[ErrorKind]int{
	KindInvalid:          http.StatusBadRequest,
	KindNotFound:         http.StatusNotFound,
	KindForbidden:        http.StatusForbidden,
	KindConflict:         http.StatusConflict,
	KindRateLimited:      http.StatusTooManyRequests,
	KindOverloaded:       http.StatusServiceUnavailable,
	KindUnknownReference: http.StatusUnprocessableEntity,
}

func fromDomain(e *Error) *problem.Problem {
	status, ok := statusOf[e.Kind]
	if !ok {
		return problem.ErrInternal.Wrap(e)
	}
	p := problem.New(status, e.Code, e.Detail)
	for _, f := range e.Fields {
		p = p.WithFields(problem.FieldError{Field: f.Field, Message: f.Message})
	}
	switch e.Kind {
	case KindRateLimited:
		p.RetryAfter = max(1, int(math.Ceil(e.RetryAfter.Seconds())))
	case KindOverloaded:
		p.RetryAfter = 1
	}
	return p
}
