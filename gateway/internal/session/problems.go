package session

import (
	"errors"
	"net/http"

	"github.com/parleychat/parley/shared/problem"
)

// Problems the gateway answers for a session it cannot accept. REST writes
// them as problem+json; Socket.IO sends the same fields as connect_error
// data, so a client handles token_expired (refresh, then retry) in one way
// wherever it meets it.
var (
	problemNoSession = problem.New(http.StatusUnauthorized, "unauthorized",
		"a valid session is required; log in")
	problemExpired = problem.New(http.StatusUnauthorized, "token_expired",
		"the session token has expired; call POST /api/v1/auth/refresh")
	problemRevoked = problem.New(http.StatusUnauthorized, "session_revoked",
		"this session has been signed out; log in again")
	problemNotReady = notReady()
)

// notReady is the 503 while revocations load; Retry-After tells clients
// when to come back.
func notReady() *problem.Problem {
	p := problem.New(http.StatusServiceUnavailable, "unavailable",
		"the gateway is still loading revocations; retry shortly")
	p.RetryAfter = 2
	return p
}

// Problem maps an Authenticate error to the problem the client gets; the
// error itself is kept as the cause, for logs only. It is the one mapping
// of session errors, used by REST and Socket.IO alike.
func Problem(err error) *problem.Problem {
	switch {
	case errors.Is(err, ErrMissing):
		return problemNoSession
	case errors.Is(err, ErrExpired):
		return problemExpired.Wrap(err)
	case errors.Is(err, ErrRevoked):
		return problemRevoked.Wrap(err)
	case errors.Is(err, ErrNotReady):
		return problemNotReady.Wrap(err)
	default:
		return problemNoSession.Wrap(err)
	}
}
