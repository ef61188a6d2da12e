package token

import (
	"context"
	"errors"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/problem"
)

var errNoBearer = errors.New("no bearer token in Authorization header")

// RequireInternal admits only requests carrying "Authorization: Bearer
// <internal token>" that v accepts, and puts the token's claims in the
// request context. Identity headers are never consulted: the token is the
// only source of the caller's user id. It panics if v does not verify
// gateway-issued tokens, because wiring a session verifier here would let a
// user's session token reach a service.
func RequireInternal(v *Verifier) gin.HandlerFunc {
	if v == nil || v.issuer != IssuerGateway {
		panic("token: RequireInternal needs a verifier for issuer " + IssuerGateway)
	}
	return func(c *gin.Context) {
		raw, ok := bearer(c.GetHeader("Authorization"))
		var claims *Claims
		err := errNoBearer
		if ok {
			claims, err = v.Verify(raw)
		}
		if err != nil {
			// Recorded on the context so the request log's error.message says
			// why (e.g. an unknown kid after a botched rotation); the client
			// only sees a plain 401.
			_ = c.Error(err)
			problem.Write(c, problem.ErrUnauthorized)
			return
		}
		c.Request = c.Request.WithContext(NewContext(c.Request.Context(), claims))
		c.Set(logging.UserIDKey, claims.Subject)
		c.Next()
	}
}

// bearer extracts the token from an RFC 6750 Authorization value; the scheme
// is case-insensitive.
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

type ctxKey struct{}

// NewContext returns ctx carrying verified claims, for transports other than
// Gin (such as a Socket.IO handshake) that verify a token themselves.
func NewContext(ctx context.Context, c *Claims) context.Context {
	return context.WithValue(ctx, ctxKey{}, c)
}

// FromContext returns the verified claims stored by RequireInternal or
// NewContext.
func FromContext(ctx context.Context) (*Claims, bool) {
	c, ok := ctx.Value(ctxKey{}).(*Claims)
	return c, ok && c != nil
}

// UserID returns the verified caller's user id, or "" when the request was
// not authenticated.
func UserID(ctx context.Context) string {
	if c, ok := FromContext(ctx); ok {
		return c.Subject
	}
	return ""
}
