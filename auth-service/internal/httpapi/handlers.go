package httpapi

import (
	"net"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/shared/input"
	"github.com/parleychat/parley/shared/jsonbody"
	"github.com/parleychat/parley/shared/token"
)

// maxUserAgent bounds what is stored per session.
const maxUserAgent = 512

type handlers struct {
	svc *auth.Service
}

type signupRequest struct {
	Username string `json:"username"`
	Email    string `json:"email"`
	Password string `json:"password"`
}

func (h *handlers) signup(c *gin.Context) {
	var req signupRequest
	if !decode(c, &req) {
		return
	}
	g, err := h.svc.Signup(c.Request.Context(), auth.SignupInput(req), client(c))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusCreated, toGrant(g))
}

type loginRequest struct {
	Login    string `json:"login"`
	Password string `json:"password"`
}

func (h *handlers) login(c *gin.Context) {
	var req loginRequest
	if !decode(c, &req) {
		return
	}
	g, err := h.svc.Login(c.Request.Context(), auth.LoginInput(req), client(c))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, toGrant(g))
}

type refreshRequest struct {
	RefreshToken string `json:"refreshToken"`
}

func (h *handlers) refresh(c *gin.Context) {
	var req refreshRequest
	if !decode(c, &req) {
		return
	}
	g, err := h.svc.Refresh(c.Request.Context(), req.RefreshToken, client(c))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, toGrant(g))
}

// logout accepts an empty body (the session comes from the token's sid) or
// {"refreshToken"} when the gateway only has the refresh cookie left.
func (h *handlers) logout(c *gin.Context) {
	var req refreshRequest
	if c.Request.ContentLength != 0 && !decode(c, &req) {
		return
	}
	if err := h.svc.Logout(c.Request.Context(), caller(c), req.RefreshToken); err != nil {
		writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusNoContent)
}

func (h *handlers) me(c *gin.Context) {
	u, err := h.svc.Me(c.Request.Context(), caller(c))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, toUser(u))
}

type changePasswordRequest struct {
	CurrentPassword string `json:"currentPassword"`
	NewPassword     string `json:"newPassword"`
}

// changePassword answers 200 with a grant for a NEW session on this device:
// every session of the user, this one included, has been revoked.
func (h *handlers) changePassword(c *gin.Context) {
	var req changePasswordRequest
	if !decode(c, &req) {
		return
	}
	g, err := h.svc.ChangePassword(c.Request.Context(), caller(c), auth.ChangePasswordInput(req), client(c))
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, toGrant(g))
}

func (h *handlers) sessions(c *gin.Context) {
	list, err := h.svc.Sessions(c.Request.Context(), caller(c))
	if err != nil {
		writeError(c, err)
		return
	}
	out := make([]sessionJSON, len(list))
	for i, s := range list {
		out[i] = sessionJSON{
			ID: s.ID, CreatedAt: s.CreatedAt.UTC(), LastUsedAt: s.LastUsedAt.UTC(), ExpiresAt: s.ExpiresAt.UTC(),
			UserAgent: s.UserAgent, IP: s.IP, Current: s.Current,
		}
	}
	writeJSON(c, http.StatusOK, gin.H{"sessions": out})
}

// revokeSession takes the session id in its canonical form only: another
// spelling of the same id would otherwise reach the revocation event, and
// gateways match ids as strings.
func (h *handlers) revokeSession(c *gin.Context) {
	id, ok := input.ParseID(c.Param("id"))
	if !ok {
		writeError(c, auth.ErrNotFound)
		return
	}
	if err := h.svc.RevokeSession(c.Request.Context(), caller(c), id); err != nil {
		writeError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Status(http.StatusNoContent)
}

func (h *handlers) revocations(c *gin.Context) {
	r, err := h.svc.Revocations(c.Request.Context())
	if err != nil {
		writeError(c, err)
		return
	}
	writeJSON(c, http.StatusOK, toRevocations(r))
}

// decode reads a strict JSON body, writing the problem and returning false
// when it is refused.
func decode(c *gin.Context, dst any) bool {
	if err := jsonbody.Decode(c.Writer, c.Request, dst, maxBody); err != nil {
		writeError(c, err)
		return false
	}
	return true
}

// writeJSON sends v; answers carrying tokens or personal data are never
// cached.
func writeJSON(c *gin.Context, status int, v any) {
	c.Header("Cache-Control", "no-store")
	c.JSON(status, v)
}

// caller is the identity the internal token carries.
func caller(c *gin.Context) auth.Caller {
	claims, ok := token.FromContext(c.Request.Context())
	if !ok {
		return auth.Caller{}
	}
	return auth.Caller{UserID: claims.Subject, SessionID: claims.SessionID}
}

// client describes the end user's device. The address comes from
// X-Forwarded-For, which the gateway sets to the client address it saw
// (replacing anything the client sent); it is believed only because every
// request here has passed RequireInternal, i.e. came through the gateway.
// The last entry is used, being the one the nearest proxy appended.
func client(c *gin.Context) auth.Client {
	// Stored and listed back to the user: whatever bytes a client sends,
	// the account can still sign in.
	ua := input.Header(c.Request.UserAgent(), maxUserAgent)
	ip := ""
	if xff := c.GetHeader("X-Forwarded-For"); xff != "" {
		parts := strings.Split(xff, ",")
		if addr := net.ParseIP(strings.TrimSpace(parts[len(parts)-1])); addr != nil {
			ip = addr.String()
		}
	}
	return auth.Client{IP: ip, UserAgent: ua}
}
