package realtime

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley/shared/token"
)

func TestHandshake(t *testing.T) {
	r := newRig(t, Options{})
	good := r.sessionToken("user-a", "s1")
	revoked := r.sessionToken("user-a", "s-revoked")
	r.store.RevokeSessions("user-a", []string{"s-revoked"}, time.Now().Add(time.Hour))
	now := time.Now()
	expired, err := r.authSigner.Sign(token.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: "user-a", Audience: jwt.ClaimStrings{token.AudienceGateway},
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Hour)), ExpiresAt: jwt.NewNumericDate(now.Add(-time.Minute)),
	}, SessionID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	// Past exp by less than the verifier's clock-skew leeway: REST still
	// accepts it, a socket would be closed at once, so it is refused.
	justExpired, err := r.authSigner.Sign(token.Claims{RegisteredClaims: jwt.RegisteredClaims{
		Subject: "user-a", Audience: jwt.ClaimStrings{token.AudienceGateway},
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Hour)), ExpiresAt: jwt.NewNumericDate(now.Add(-time.Second)),
	}, SessionID: "s1"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		headers    http.Header
		engineOK   bool   // the Engine.IO handshake is accepted
		wantCode   string // "" = connects; else the connect_error data.code
		httpRefuse bool   // refused before Socket.IO: the client sees a transport error
	}{
		// First, while its exp is still within the leeway.
		{"session expired within the leeway", cookie(justExpired), true, "token_expired", false},
		{"valid cookie, no Origin", cookie(good), true, "", false},
		{"valid cookie, trusted Origin", withOrigin(cookie(good), "https://app.parley.test"), true, "", false},
		{"valid cookie, same Origin", withOrigin(cookie(good), r.http.URL), true, "", false},
		{"no cookie", http.Header{}, false, "", true},
		{"valid cookie, foreign Origin", withOrigin(cookie(good), "https://evil.test"), false, "", true},
		{"garbage cookie", cookie("not.a.token"), true, "unauthorized", false},
		{"expired session", cookie(expired), true, "token_expired", false},
		{"revoked session", cookie(revoked), true, "session_revoked", false},
	}
	for _, tc := range tests {
		for _, transport := range []string{"websocket", "polling"} {
			t.Run(tc.name+" over "+transport, func(t *testing.T) {
				// (Engine.IO answers a refused WebSocket upgrade with 400,
				// a refused polling handshake with 403.)
				status := rawHandshake(t, r.http.URL, transport, tc.headers)
				switch {
				case tc.engineOK && transport == "websocket" && status != http.StatusSwitchingProtocols:
					t.Errorf("handshake status %d, want 101", status)
				case tc.engineOK && transport == "polling" && status != http.StatusOK:
					t.Errorf("handshake status %d, want 200", status)
				case !tc.engineOK && (status < 400 || status >= 500):
					t.Errorf("handshake status %d, want a 4xx refusal", status)
				}
				_, err := r.dial(tc.headers, transport)
				var ce errConnect
				switch {
				case tc.wantCode == "" && !tc.httpRefuse && err != nil:
					t.Errorf("client refused: %v, want connected", err)
				case tc.httpRefuse && err == nil:
					t.Errorf("client connected, want refused")
				case tc.wantCode != "" && (!errors.As(err, &ce) || ce.code != tc.wantCode):
					t.Errorf("client error %#v, want connect_error with code %s", err, tc.wantCode)
				}
			})
		}
	}
}

// rawHandshake opens an Engine.IO v4 session by hand and returns the
// HTTP status: 200 (polling) or 101 (WebSocket) when accepted.
func rawHandshake(t *testing.T, base, transport string, h http.Header) int {
	t.Helper()
	req, _ := http.NewRequest("GET", base+"/socket.io/?EIO=4&transport="+transport, nil)
	req.Header = h.Clone()
	if transport == "websocket" {
		req.Header.Set("Connection", "Upgrade")
		req.Header.Set("Upgrade", "websocket")
		req.Header.Set("Sec-WebSocket-Version", "13")
		req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("handshake: %v", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode
}

func withOrigin(h http.Header, origin string) http.Header {
	h = h.Clone()
	h.Set("Origin", origin)
	return h
}
