package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/problem"
)

// Problems specific to the gateway's authentication and request checks.
var (
	errTokenExpired = problem.New(http.StatusUnauthorized, "token_expired",
		"the session token has expired; call POST /api/v1/auth/refresh")
	errSessionRevoked = problem.New(http.StatusUnauthorized, "session_revoked",
		"this session has been signed out; log in again")
	errNoSession = problem.New(http.StatusUnauthorized, "unauthorized",
		"a valid session is required; log in")
	errNoRefresh = problem.New(http.StatusUnauthorized, "unauthorized",
		"no refresh token; log in again")
	errCrossOrigin = problem.New(http.StatusForbidden, "cross_origin_refused",
		"cross-origin state-changing requests are refused")
	errNotReady = notReady()
)

// notReady is the 503 while revocations load; Retry-After tells clients
// when to come back (problem.Write sends it, 5xx included).
func notReady() *problem.Problem {
	p := problem.New(http.StatusServiceUnavailable, "unavailable",
		"the gateway is still loading revocations; retry shortly")
	p.RetryAfter = 2
	return p
}

const identityKey = "parley.identity"

// identityOf returns the identity set by requireSession or optionalSession.
func identityOf(c *gin.Context) session.Identity {
	id, _ := c.Get(identityKey)
	v, _ := id.(session.Identity)
	return v
}

// authenticate checks the session cookie and stores the identity in c.
func (h *handlers) authenticate(c *gin.Context) (session.Identity, error) {
	raw, _ := c.Cookie(SessionCookie)
	id, err := h.auth.Authenticate(raw)
	if err != nil {
		return session.Identity{}, err
	}
	c.Set(identityKey, id)
	c.Set(logging.UserIDKey, id.UserID)
	return id, nil
}

// requireSession refuses requests without a valid, unrevoked session.
func (h *handlers) requireSession(c *gin.Context) {
	if _, err := h.authenticate(c); err != nil {
		problem.Write(c, authProblem(err))
		return
	}
	c.Next()
}

// optionalSession identifies the caller when it can and lets the request
// through either way (logout must work with a stale or absent session).
func (h *handlers) optionalSession(c *gin.Context) {
	_, _ = h.authenticate(c)
	c.Next()
}

// authProblem maps an Authenticate error to its 401 (or 503) problem; the
// reason is kept as the cause for logs only.
func authProblem(err error) *problem.Problem {
	switch {
	case errors.Is(err, session.ErrMissing):
		return errNoSession
	case errors.Is(err, session.ErrExpired):
		return errTokenExpired.Wrap(err)
	case errors.Is(err, session.ErrRevoked):
		return errSessionRevoked.Wrap(err)
	case errors.Is(err, session.ErrNotReady):
		return errNotReady.Wrap(err)
	default:
		return errNoSession.Wrap(err)
	}
}

// crossOrigin refuses cross-origin state-changing requests (CSRF) using
// Sec-Fetch-Site, or Origin against Host, with the configured origins
// trusted. Safe methods always pass.
func crossOrigin(cop *http.CrossOriginProtection) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := cop.Check(c.Request); err != nil {
			problem.Write(c, errCrossOrigin.Wrap(err))
			return
		}
		c.Next()
	}
}

// limitBody answers 413 up front when the declared length is too large and
// caps what can be read otherwise (chunked bodies), so a client cannot make
// the gateway stream unbounded data to a service.
func limitBody(limit int64) gin.HandlerFunc {
	return func(c *gin.Context) {
		if c.Request.ContentLength > limit {
			problem.Write(c, problem.ErrTooLarge)
			return
		}
		if c.Request.Body != nil && c.Request.Body != http.NoBody {
			c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit)
		}
		c.Next()
	}
}
