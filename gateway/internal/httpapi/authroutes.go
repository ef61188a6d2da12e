package httpapi

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/input"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/token"
)

// localRevocationTTL is how long a revocation this instance applies itself
// is kept: past it every token of the session has expired.
const localRevocationTTL = token.SessionTTL + token.DefaultLeeway

// issueSession forwards signup and login and turns the tokens of a
// successful answer into cookies. Any cookie the client sent is ignored and,
// on success, overwritten.
func (h *handlers) issueSession(c *gin.Context) {
	// The body is rewritten, so it must arrive uncompressed.
	c.Request.Header.Del("Accept-Encoding")
	h.proxy.Forward(c, h.targets.Auth, session.Identity{}, func(resp *http.Response) error {
		if resp.StatusCode/100 != 2 {
			return nil
		}
		_, _, err := h.cookies.moveTokensToCookies(resp, true)
		return err
	})
}

// refresh sends the refresh cookie (never a body field the page could
// read) to auth-service and rotates both cookies. A refused refresh clears
// them, since the session is over. A successful one reports the new
// session token's identity, so the session's open sockets follow its new
// expiry.
func (h *handlers) refresh(c *gin.Context) {
	rt, err := c.Cookie(RefreshCookie)
	if err != nil || rt == "" {
		for _, v := range h.cookies.clear() {
			c.Writer.Header().Add("Set-Cookie", v)
		}
		problem.Write(c, errNoRefresh)
		return
	}
	setJSONBody(c.Request, map[string]string{"refreshToken": rt})
	c.Request.Header.Del("Accept-Encoding")
	h.proxy.Forward(c, h.targets.Auth, session.Identity{}, func(resp *http.Response) error {
		switch {
		case resp.StatusCode/100 == 2:
			_, access, err := h.cookies.moveTokensToCookies(resp, true)
			if err != nil {
				return err
			}
			if id, err := h.auth.Authenticate(access); err == nil && h.refreshed != nil {
				h.refreshed(id)
			}
			return nil
		case resp.StatusCode == http.StatusUnauthorized:
			for _, v := range h.cookies.clear() {
				resp.Header.Add("Set-Cookie", v)
			}
		}
		return nil
	})
}

// logout ends the caller's session at auth-service and clears both cookies
// whatever the outcome: a user who asked to sign out is signed out of this
// browser even if auth-service is down. The session is identified by the
// session cookie when it is still valid, else by the refresh cookie.
func (h *handlers) logout(c *gin.Context) {
	for _, v := range h.cookies.clear() {
		c.Writer.Header().Add("Set-Cookie", v)
	}
	id := identityOf(c)
	rt, _ := c.Cookie(RefreshCookie)
	if id.UserID == "" && rt == "" {
		c.Header("Cache-Control", "no-store")
		c.Status(http.StatusNoContent)
		return
	}
	if rt != "" {
		setJSONBody(c.Request, map[string]string{"refreshToken": rt})
	} else {
		setJSONBody(c.Request, nil)
	}
	h.proxy.Forward(c, h.targets.Auth, id, func(resp *http.Response) error {
		if resp.StatusCode/100 == 2 && id.SessionID != "" {
			// This instance agrees at once; the others learn it from the event.
			h.revocations.RevokeSessions(id.UserID, []string{id.SessionID}, time.Now().Add(localRevocationTTL))
		}
		return nil
	})
}

// changePassword forwards a password change. On success every token issued
// before the request is refused here at once (auth-service's event tells the
// other instances), and new tokens, when auth-service hands them back for
// this device, become the cookies.
func (h *handlers) changePassword(c *gin.Context) {
	id := identityOf(c)
	start := time.Now()
	c.Request.Header.Del("Accept-Encoding")
	h.proxy.Forward(c, h.targets.Auth, id, func(resp *http.Response) error {
		if resp.StatusCode/100 != 2 {
			return nil
		}
		doc, _, err := h.cookies.moveTokensToCookies(resp, false)
		if err != nil {
			return err
		}
		until := time.Now().Add(localRevocationTTL)
		h.revocations.RevokeUserBefore(id.UserID, start, until)
		if newSID := sessionIDOf(doc); newSID != id.SessionID {
			h.revocations.RevokeSessions(id.UserID, []string{id.SessionID}, until)
			if newSID == "" {
				for _, v := range h.cookies.clear() {
					resp.Header.Add("Set-Cookie", v)
				}
			}
		}
		return nil
	})
}

// revokeSession forwards DELETE /auth/sessions/{id}; on success the session
// is refused here at once, and revoking one's own session also signs this
// browser out. The id is parsed first: the local revocation must name the
// session exactly as its tokens do, so a form that is not the canonical
// UUID (urn:uuid:, braces, 32 digits) names no session and is a 404 here,
// never forwarded; case differences are folded.
func (h *handlers) revokeSession(c *gin.Context) {
	id := identityOf(c)
	target, ok := input.ParseID(c.Param("id"))
	if !ok {
		problem.Write(c, problem.ErrNotFound)
		return
	}
	h.proxy.Forward(c, h.targets.Auth, id, func(resp *http.Response) error {
		if resp.StatusCode/100 != 2 {
			return nil
		}
		h.revocations.RevokeSessions(id.UserID, []string{target}, time.Now().Add(localRevocationTTL))
		if target == id.SessionID {
			for _, v := range h.cookies.clear() {
				resp.Header.Add("Set-Cookie", v)
			}
		}
		return nil
	})
}

// sessionIDOf reads session.id from an auth-service answer, if present.
func sessionIDOf(doc map[string]json.RawMessage) string {
	var s struct {
		ID string `json:"id"`
	}
	if raw, ok := doc["session"]; ok {
		_ = json.Unmarshal(raw, &s)
	}
	return s.ID
}

// setJSONBody replaces r's body with v encoded as JSON (nil: no body).
func setJSONBody(r *http.Request, v any) {
	if v == nil {
		r.Body, r.ContentLength = http.NoBody, 0
		r.Header.Del("Content-Type")
		r.Header.Del("Content-Length")
		return
	}
	b, _ := json.Marshal(v) // maps of strings always encode
	r.Body = io.NopCloser(bytes.NewReader(b))
	r.ContentLength = int64(len(b))
	r.Header.Set("Content-Type", "application/json")
	r.Header.Set("Content-Length", strconv.Itoa(len(b)))
	r.Header.Del("Transfer-Encoding")
	r.TransferEncoding = nil
}
