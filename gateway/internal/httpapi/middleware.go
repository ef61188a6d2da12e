package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/problem"
)

// Problems of the gateway's own request checks; session problems come from
// session.Problem, shared with Socket.IO.
var (
	errNoRefresh = problem.New(http.StatusUnauthorized, "unauthorized",
		"no refresh token; log in again")
	errCrossOrigin = problem.New(http.StatusForbidden, "cross_origin_refused",
		"cross-origin state-changing requests are refused")
)

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
		problem.Write(c, session.Problem(err))
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
