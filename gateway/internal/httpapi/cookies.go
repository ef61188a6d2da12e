package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/parleychat/parley/gateway/internal/session"
)

// Cookie names and paths. The session cookie goes with every request; the
// refresh cookie only to the auth routes, the one place that reads it, so
// it is exposed to as few requests (and logs) as possible.
const (
	SessionCookie = session.CookieName
	RefreshCookie = "parley_refresh"
	SessionPath   = "/"
	RefreshPath   = "/api/v1/auth"
)

// maxTokenResponse bounds the auth-service bodies the gateway rewrites.
const maxTokenResponse = 1 << 20

// Cookies writes the gateway's cookies with one set of attributes, so a
// cookie planted earlier with the same name and path is overwritten rather
// than shadowed.
type Cookies struct {
	// Secure adds the Secure attribute (TLS or COOKIE_SECURE).
	Secure bool
}

// tokens is the part of auth-service's answer that becomes cookies.
type tokens struct {
	AccessToken      string    `json:"accessToken"`
	AccessExpiresAt  time.Time `json:"accessExpiresAt"`
	RefreshToken     string    `json:"refreshToken"`
	RefreshExpiresAt time.Time `json:"refreshExpiresAt"`
}

func (k Cookies) cookie(name, value, path string, expires time.Time) *http.Cookie {
	c := &http.Cookie{
		Name:     name,
		Value:    value,
		Path:     path,
		HttpOnly: true,
		Secure:   k.Secure,
		SameSite: http.SameSiteLaxMode,
	}
	if value == "" {
		c.MaxAge = -1 // serialised as Max-Age=0: delete now
		c.Expires = time.Unix(0, 0)
	} else {
		c.Expires = expires.UTC()
		c.MaxAge = max(1, int(time.Until(expires).Seconds()))
	}
	return c
}

// set returns the Set-Cookie values for t. The session cookie lives as long
// as the refresh token: an expired access token must still reach the
// gateway so it can answer token_expired (refresh) rather than a bare 401.
func (k Cookies) set(t tokens) []string {
	return []string{
		k.cookie(SessionCookie, t.AccessToken, SessionPath, t.RefreshExpiresAt).String(),
		k.cookie(RefreshCookie, t.RefreshToken, RefreshPath, t.RefreshExpiresAt).String(),
	}
}

// clear returns the Set-Cookie values that delete both cookies.
func (k Cookies) clear() []string {
	return []string{
		k.cookie(SessionCookie, "", SessionPath, time.Time{}).String(),
		k.cookie(RefreshCookie, "", RefreshPath, time.Time{}).String(),
	}
}

var errNoTokens = errors.New("auth-service answer lacks tokens")

// moveTokensToCookies rewrites a 2xx auth-service answer: the tokens become
// cookies and the body keeps everything else. Tokens never reach a body
// the client (or its JavaScript) can read. It returns the decoded body
// without tokens, for hooks that need the session id, and the new session
// token ("" when the answer had none).
func (k Cookies) moveTokensToCookies(resp *http.Response, required bool) (map[string]json.RawMessage, string, error) {
	if resp.Header.Get("Content-Encoding") != "" {
		return nil, "", fmt.Errorf("auth-service answer is %s-encoded; cannot strip tokens", resp.Header.Get("Content-Encoding"))
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxTokenResponse+1))
	_ = resp.Body.Close()
	if err != nil {
		return nil, "", fmt.Errorf("read auth-service answer: %w", err)
	}
	if len(raw) > maxTokenResponse {
		return nil, "", errors.New("auth-service answer too large")
	}
	var doc map[string]json.RawMessage
	if len(bytes.TrimSpace(raw)) > 0 {
		if err := json.Unmarshal(raw, &doc); err != nil {
			return nil, "", fmt.Errorf("decode auth-service answer: %w", err)
		}
	}
	rawTokens, ok := doc["tokens"]
	if !ok {
		if required {
			return nil, "", errNoTokens
		}
		replaceBody(resp, raw)
		return doc, "", nil
	}
	var t tokens
	if err := json.Unmarshal(rawTokens, &t); err != nil {
		return nil, "", fmt.Errorf("decode tokens: %w", err)
	}
	if t.AccessToken == "" || t.RefreshToken == "" || t.RefreshExpiresAt.IsZero() {
		return nil, "", errNoTokens
	}
	delete(doc, "tokens")
	body, err := json.Marshal(doc)
	if err != nil {
		return nil, "", err
	}
	replaceBody(resp, body)
	for _, v := range k.set(t) {
		resp.Header.Add("Set-Cookie", v)
	}
	resp.Header.Set("Cache-Control", "no-store")
	return doc, t.AccessToken, nil
}

func replaceBody(resp *http.Response, body []byte) {
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Set("Content-Length", strconv.Itoa(len(body)))
	resp.Header.Del("Transfer-Encoding")
}
