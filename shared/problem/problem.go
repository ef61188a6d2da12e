// Package problem is Parley's one error type and its RFC 9457 problem+json writer.
//
// Every service maps its errors to a *Problem in exactly one place and writes it
// with Write. Client errors (4xx) carry a stable Code and optional field errors;
// server errors (5xx) carry only the trace id, so internal detail never leaves a
// service.
package problem

import (
	"errors"
	"fmt"
	"net/http"
)

// ContentType is the media type of every error body.
const ContentType = "application/problem+json"

// FieldError names one invalid input field and why it was refused.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Problem is an RFC 9457 problem document with Parley's extension members.
type Problem struct {
	Type    string       `json:"type"`
	Title   string       `json:"title"`
	Status  int          `json:"status"`
	Detail  string       `json:"detail,omitempty"`
	Code    string       `json:"code"`
	TraceID string       `json:"traceId,omitempty"`
	Errors  []FieldError `json:"errors,omitempty"`

	// RetryAfter, when positive, is sent as the Retry-After header (seconds).
	RetryAfter int `json:"-"`
	// cause is the underlying error, logged but never serialised.
	cause error
}

// Error implements error.
func (p *Problem) Error() string {
	if p.cause != nil {
		return fmt.Sprintf("%s: %s: %v", p.Code, p.Detail, p.cause)
	}
	if p.Detail != "" {
		return p.Code + ": " + p.Detail
	}
	return p.Code
}

// Unwrap returns the underlying cause, if any.
func (p *Problem) Unwrap() error { return p.cause }

// New returns a problem with the given status, stable code and human detail.
func New(status int, code, detail string) *Problem {
	return &Problem{
		Type:   "https://parley.chat/problems/" + code,
		Title:  http.StatusText(status),
		Status: status,
		Code:   code,
		Detail: detail,
	}
}

// Wrap returns a problem that records cause for logs.
func (p *Problem) Wrap(cause error) *Problem {
	c := *p
	c.cause = cause
	return &c
}

// WithFields returns a copy of p that carries the given field errors.
func (p *Problem) WithFields(fields ...FieldError) *Problem {
	c := *p
	c.Errors = append(append([]FieldError(nil), p.Errors...), fields...)
	return &c
}

// Validation returns a 400 problem listing the invalid fields.
func Validation(fields ...FieldError) *Problem {
	return New(http.StatusBadRequest, "validation_failed", "one or more fields are invalid").WithFields(fields...)
}

// Common problems shared by every service.
var (
	ErrUnauthorized    = New(http.StatusUnauthorized, "unauthorized", "a valid credential is required")
	ErrForbidden       = New(http.StatusForbidden, "forbidden", "this action is not allowed")
	ErrNotFound        = New(http.StatusNotFound, "not_found", "the resource does not exist")
	ErrConflict        = New(http.StatusConflict, "conflict", "the resource already exists")
	ErrTooLarge        = New(http.StatusRequestEntityTooLarge, "body_too_large", "the request body is too large")
	ErrUnsupportedType = New(http.StatusUnsupportedMediaType, "unsupported_media_type", "send application/json")
	ErrTooManyRequests = New(http.StatusTooManyRequests, "rate_limited", "too many requests, retry later")
	ErrInternal        = New(http.StatusInternalServerError, "internal", "an internal error occurred; quote the traceId when reporting it")
	ErrUnavailable     = New(http.StatusServiceUnavailable, "unavailable", "a dependency is unavailable; retry later")
	ErrBadGateway      = New(http.StatusBadGateway, "bad_gateway", "an upstream service failed; retry later")
	ErrGatewayTimeout  = New(http.StatusGatewayTimeout, "gateway_timeout", "an upstream service did not answer in time")
	// ErrOverloaded is work refused at once because it cannot start soon
	// (DESIGN §9): the one 5xx whose code clients act on (resend after the
	// retry hint), so Public keeps it whole.
	ErrOverloaded = New(http.StatusServiceUnavailable, CodeOverloaded, "the service is busy, retry shortly")
)

// CodeOverloaded is ErrOverloaded's code.
const CodeOverloaded = "overloaded"

// RetryLater is the 503 for a dependency that is down for a moment (a
// database restarting): the client retries after a second.
func RetryLater(cause error) *Problem {
	p := ErrUnavailable.Wrap(cause)
	p.RetryAfter = 1
	return p
}

// From returns the *Problem inside err, or an internal-error problem that
// wraps err when err carries none.
func From(err error) *Problem {
	var p *Problem
	if errors.As(err, &p) {
		return p
	}
	return ErrInternal.Wrap(err)
}

// Public returns what may be sent to a client: 4xx problems unchanged, 5xx
// problems reduced to their status, generic code and detail, and the trace
// id. RetryAfter is kept on both: it tells the client when to come back
// (typically a 503) and reveals nothing internal. A 503 overloaded is kept
// whole: its code is part of the contract and says nothing internal.
func (p *Problem) Public(traceID string) *Problem {
	out := *p
	out.cause = nil
	out.TraceID = traceID
	if p.Status >= 500 && (p.Status != http.StatusServiceUnavailable || p.Code != CodeOverloaded) {
		generic := ErrInternal
		switch p.Status {
		case http.StatusServiceUnavailable:
			generic = ErrUnavailable
		case http.StatusBadGateway:
			generic = ErrBadGateway
		case http.StatusGatewayTimeout:
			generic = ErrGatewayTimeout
		}
		out = *generic
		out.Status = p.Status
		out.Title = http.StatusText(p.Status)
		out.TraceID = traceID
		out.RetryAfter = p.RetryAfter
	}
	return &out
}
