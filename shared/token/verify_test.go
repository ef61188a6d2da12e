package token_test

import (
	"encoding/base64"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

func TestVerify(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	clock := token.WithClock(func() time.Time { return now })
	authKey, gwKey, attacker := tokentest.NewKey(t), tokentest.NewKey(t), tokentest.NewKey(t)
	gwKID, attackerKID := token.KeyID(tokentest.Public(gwKey)), token.KeyID(tokentest.Public(attacker))
	auth, gw := tokentest.Signer(t, authKey, token.IssuerAuth), tokentest.Signer(t, gwKey, token.IssuerGateway)

	sessionV := tokentest.Verifier(t, tokentest.KeySet(t, authKey), token.IssuerAuth, token.AudienceGateway, clock)
	usersV := tokentest.Verifier(t, tokentest.KeySet(t, gwKey), token.IssuerGateway, token.AudienceUsers, clock)
	// A service misconfigured to trust the auth key as well: iss and aud
	// must still keep session tokens out.
	usersBothV := tokentest.Verifier(t, tokentest.KeySet(t, gwKey, authKey), token.IssuerGateway, token.AudienceUsers, clock)

	internal := claimsAt(now, token.IssuerGateway, token.AudienceUsers, 30*time.Second)
	session := claimsAt(now, token.IssuerAuth, token.AudienceGateway, token.SessionTTL)
	kid := map[string]any{"kid": gwKID}
	authKID := map[string]any{"kid": token.KeyID(tokentest.Public(authKey))}
	ed := jwt.SigningMethodEdDSA
	good := forge(t, ed, gwKey, kid, internal)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(
		[]byte(`{"iss":"parley-gateway","sub":"admin","aud":"user-service","exp":`+
			jwtNum(now.Add(30*time.Second))+`,"iat":`+jwtNum(now)+`}`)) + "." + parts[2]
	attackerJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(tokentest.Public(attacker))}
	lifetime := func(d time.Duration) token.Claims {
		return with(internal, func(c *token.Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(d)) })
	}

	tests := []struct {
		name    string
		v       *token.Verifier
		raw     string
		wantErr error // nil: the token must verify
	}{
		{"valid session token", sessionV, tokentest.Must(t)(auth.Session("user-1", "sess-1", token.SessionTTL)), nil},
		{"valid internal token", usersV, tokentest.Must(t)(gw.Internal("user-1", token.AudienceUsers, 30*time.Second)), nil},
		{"forge control: well-formed token verifies", usersV, good, nil},

		{"alg none", usersV, forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, internal), jwt.ErrTokenSignatureInvalid},
		{"HS256 keyed with the public key", usersV, forge(t, jwt.SigningMethodHS256, []byte(tokentest.Public(gwKey)), kid, internal), jwt.ErrTokenSignatureInvalid},
		{"tampered payload", usersV, tampered, jwt.ErrTokenSignatureInvalid},
		{"signature stripped", usersV, parts[0] + "." + parts[1] + ".", jwt.ErrTokenSignatureInvalid},

		{"empty", usersV, "", jwt.ErrTokenMalformed},
		{"two parts", usersV, parts[0] + "." + parts[1], jwt.ErrTokenMalformed},
		{"garbage base64", usersV, "!!!.@@@.###", jwt.ErrTokenMalformed},
		{"one byte over the size bound", usersV, good + strings.Repeat("A", token.MaxTokenBytes-len(good)+1), token.ReasonTooLong},
		{"1 MB token", usersV, strings.Repeat("A", 1<<20) + "." + parts[1] + "." + parts[2], token.ReasonTooLong},

		{"expired within leeway", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *token.Claims) {
			c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(now.Add(-30*time.Second)), nil, jwt.NewNumericDate(now.Add(-4*time.Second))
		})), nil},
		{"expired beyond leeway", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *token.Claims) {
			c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(now.Add(-30*time.Second)), nil, jwt.NewNumericDate(now.Add(-6*time.Second))
		})), jwt.ErrTokenExpired},
		{"no exp", sessionV, forge(t, ed, authKey, authKID, with(session, func(c *token.Claims) { c.ExpiresAt = nil })), jwt.ErrTokenRequiredClaimMissing},
		{"nbf in the future", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *token.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(10 * time.Second)) })), jwt.ErrTokenNotValidYet},
		{"nbf within leeway", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *token.Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(4 * time.Second)) })), nil},
		{"iat in the future", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *token.Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(10 * time.Second)) })), jwt.ErrTokenUsedBeforeIssued},

		{"wrong iss", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *token.Claims) { c.Issuer = "parley-evil" })), jwt.ErrTokenInvalidIssuer},
		{"no iss", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *token.Claims) { c.Issuer = "" })), jwt.ErrTokenRequiredClaimMissing},
		{"wrong aud", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *token.Claims) { c.Audience = jwt.ClaimStrings{token.AudienceChat} })), jwt.ErrTokenInvalidAudience},
		{"aud lists another service too", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *token.Claims) { c.Audience = jwt.ClaimStrings{token.AudienceUsers, token.AudienceChat} })), token.ReasonAudience},
		{"no sub", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *token.Claims) { c.Subject = "" })), token.ReasonSubject},

		{"unknown kid", usersV, forge(t, ed, gwKey, map[string]any{"kid": "nope"}, internal), token.ReasonUnknownKID},
		{"missing kid", usersV, forge(t, ed, gwKey, nil, internal), token.ReasonNoKID},
		{"numeric kid", usersV, forge(t, ed, gwKey, map[string]any{"kid": 1}, internal), token.ReasonNoKID},
		{"path-injection kid", usersV, forge(t, ed, gwKey, map[string]any{"kid": "../../etc/passwd"}, internal), token.ReasonUnknownKID},
		{"attacker jwk with its own kid", usersV, forge(t, ed, attacker, map[string]any{"kid": attackerKID, "jwk": attackerJWK}, internal), token.ReasonUnknownKID},
		{"attacker jwk claiming the real kid", usersV, forge(t, ed, attacker, map[string]any{"kid": gwKID, "jwk": attackerJWK}, internal), jwt.ErrTokenSignatureInvalid},
		{"crit header", usersV, forge(t, ed, gwKey, map[string]any{"kid": gwKID, "crit": []string{"exp"}}, internal), token.ReasonCrit},

		{"internal lifetime 65 s is within leeway", usersV, forge(t, ed, gwKey, kid, lifetime(token.MaxInternalTTL+token.DefaultLeeway)), nil},
		{"internal lifetime 66 s", usersV, forge(t, ed, gwKey, kid, lifetime(token.MaxInternalTTL+token.DefaultLeeway+time.Second)), token.ReasonLifetime},
		{"internal lifetime 1 h", usersV, forge(t, ed, gwKey, kid, lifetime(time.Hour)), token.ReasonLifetime},
		{"internal token without iat", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *token.Claims) { c.IssuedAt = nil })), token.ReasonNoIAT},

		{"session token sent to a service", usersV, tokentest.Must(t)(auth.Session("user-1", "sess-1", token.SessionTTL)), token.ReasonUnknownKID},
		{"session token to a service trusting the auth key", usersBothV, tokentest.Must(t)(auth.Session("user-1", "sess-1", token.SessionTTL)), jwt.ErrTokenInvalidIssuer},
		{"internal token for chat-service sent to user-service", usersV, tokentest.Must(t)(gw.Internal("user-1", token.AudienceChat, 30*time.Second)), jwt.ErrTokenInvalidAudience},
		{"internal token sent to the gateway's session verifier", sessionV, good, token.ReasonUnknownKID},
	}
	// For alg confusion the key type would also refuse the token, so these
	// rows pin that the algorithm check is what did.
	wantMsg := map[string]string{
		"alg none":                        "signing method none is invalid",
		"HS256 keyed with the public key": "signing method HS256 is invalid",
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tc.v.Verify(tc.raw)
			if tc.wantErr == nil {
				if err != nil {
					t.Fatalf("Verify: %v, want success", err)
				}
				if c.Subject != "user-1" {
					t.Errorf("sub = %q, want user-1", c.Subject)
				}
				return
			}
			if c != nil {
				t.Errorf("claims = %+v, want nil", c)
			}
			if !errors.Is(err, token.ErrInvalid) || !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want ErrInvalid wrapping %v", err, tc.wantErr)
			}
			if msg := wantMsg[tc.name]; err != nil && !strings.Contains(err.Error(), msg) {
				t.Errorf("err = %v, want it to mention %q", err, msg)
			}
		})
	}
}

func jwtNum(t time.Time) string {
	b, _ := jwt.NewNumericDate(t).MarshalJSON()
	return string(b)
}

// TestVerifyNeverFetchesKeyURLs checks jku/x5u are not dereferenced: a
// verifier that followed them would both accept the token and hit the server.
func TestVerifyNeverFetchesKeyURLs(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
	}))
	defer srv.Close()

	gwKey, attacker := tokentest.NewKey(t), tokentest.NewKey(t)
	v := tokentest.Verifier(t, tokentest.KeySet(t, gwKey), token.IssuerGateway, token.AudienceUsers)
	header := map[string]any{"kid": token.KeyID(tokentest.Public(attacker)), "jku": srv.URL, "x5u": srv.URL, "x5c": []string{"MIIB"}}
	raw := forge(t, jwt.SigningMethodEdDSA, attacker, header, claimsAt(time.Now(), token.IssuerGateway, token.AudienceUsers, 30*time.Second))

	if _, err := v.Verify(raw); !errors.Is(err, token.ReasonUnknownKID) {
		t.Errorf("err = %v, want %v", err, token.ReasonUnknownKID)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("key URL fetched %d times, want 0", n)
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newK := tokentest.NewKey(t), tokentest.NewKey(t)
	raw := tokentest.Must(t)(tokentest.Signer(t, oldKey, token.IssuerGateway).Internal("user-1", token.AudienceChat, 30*time.Second))

	tests := []struct {
		name    string
		keys    *token.KeySet
		wantErr error
	}{
		{"old and new keys trusted", tokentest.KeySet(t, oldKey, newK), nil},
		{"old key retired", tokentest.KeySet(t, newK), token.ReasonUnknownKID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tokentest.Verifier(t, tc.keys, token.IssuerGateway, token.AudienceChat).Verify(raw)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestNewVerifierRejects(t *testing.T) {
	ks := tokentest.KeySet(t, tokentest.NewKey(t))
	tests := []struct {
		name             string
		keys             *token.KeySet
		issuer, audience string
		opts             []token.VerifierOption
	}{
		{"nil keys", nil, token.IssuerGateway, token.AudienceUsers, nil},
		{"no issuer", ks, "", token.AudienceUsers, nil},
		{"no audience", ks, token.IssuerGateway, "", nil},
		{"negative leeway", ks, token.IssuerGateway, token.AudienceUsers, []token.VerifierOption{token.WithLeeway(-time.Second)}},
		{"internal bound lifted", ks, token.IssuerGateway, token.AudienceUsers, []token.VerifierOption{token.WithMaxLifetime(0)}},
		{"internal bound raised", ks, token.IssuerGateway, token.AudienceUsers, []token.VerifierOption{token.WithMaxLifetime(2 * token.MaxInternalTTL)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := token.NewVerifier(tc.keys, tc.issuer, tc.audience, tc.opts...); err == nil {
				t.Error("NewVerifier succeeded, want an error")
			}
		})
	}
}
