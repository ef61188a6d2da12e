package token

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
)

func TestVerify(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	clock := WithClock(func() time.Time { return now })
	authKey, gwKey, attacker := newKey(t), newKey(t), newKey(t)
	gwKID, attackerKID := KeyID(pubOf(gwKey)), KeyID(pubOf(attacker))
	auth, gw := mustSigner(t, authKey, IssuerAuth), mustSigner(t, gwKey, IssuerGateway)

	sessionV := mustVerifier(t, mustKeySet(t, authKey), IssuerAuth, AudienceGateway, clock)
	usersV := mustVerifier(t, mustKeySet(t, gwKey), IssuerGateway, AudienceUsers, clock)
	// A service misconfigured to trust the auth key as well: iss and aud
	// must still keep session tokens out.
	usersBothV := mustVerifier(t, mustKeySet(t, gwKey, authKey), IssuerGateway, AudienceUsers, clock)

	internal := claimsAt(now, IssuerGateway, AudienceUsers, 30*time.Second)
	session := claimsAt(now, IssuerAuth, AudienceGateway, SessionTTL)
	kid := map[string]any{"kid": gwKID}
	authKID := map[string]any{"kid": KeyID(pubOf(authKey))}
	ed := jwt.SigningMethodEdDSA
	good := forge(t, ed, gwKey, kid, internal)
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(
		[]byte(`{"iss":"parley-gateway","sub":"admin","aud":"user-service","exp":`+
			jwtNum(now.Add(30*time.Second))+`,"iat":`+jwtNum(now)+`}`)) + "." + parts[2]
	attackerJWK := map[string]any{"kty": "OKP", "crv": "Ed25519", "x": base64.RawURLEncoding.EncodeToString(pubOf(attacker))}
	lifetime := func(d time.Duration) Claims {
		return with(internal, func(c *Claims) { c.ExpiresAt = jwt.NewNumericDate(now.Add(d)) })
	}

	tests := []struct {
		name    string
		v       *Verifier
		raw     string
		wantErr error // nil: the token must verify
	}{
		{"valid session token", sessionV, mustSign(t)(auth.Session("user-1", "sess-1", SessionTTL)), nil},
		{"valid internal token", usersV, mustSign(t)(gw.Internal("user-1", AudienceUsers, 30*time.Second)), nil},
		{"forge control: well-formed token verifies", usersV, good, nil},

		{"alg none", usersV, forge(t, jwt.SigningMethodNone, jwt.UnsafeAllowNoneSignatureType, kid, internal), jwt.ErrTokenSignatureInvalid},
		{"HS256 keyed with the public key", usersV, forge(t, jwt.SigningMethodHS256, []byte(pubOf(gwKey)), kid, internal), jwt.ErrTokenSignatureInvalid},
		{"tampered payload", usersV, tampered, jwt.ErrTokenSignatureInvalid},
		{"signature stripped", usersV, parts[0] + "." + parts[1] + ".", jwt.ErrTokenSignatureInvalid},

		{"empty", usersV, "", jwt.ErrTokenMalformed},
		{"two parts", usersV, parts[0] + "." + parts[1], jwt.ErrTokenMalformed},
		{"garbage base64", usersV, "!!!.@@@.###", jwt.ErrTokenMalformed},
		{"one byte over the size bound", usersV, good + strings.Repeat("A", MaxTokenBytes-len(good)+1), errTooLong},
		{"1 MB token", usersV, strings.Repeat("A", 1<<20) + "." + parts[1] + "." + parts[2], errTooLong},

		{"expired within leeway", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *Claims) {
			c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(now.Add(-30*time.Second)), nil, jwt.NewNumericDate(now.Add(-4*time.Second))
		})), nil},
		{"expired beyond leeway", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *Claims) {
			c.IssuedAt, c.NotBefore, c.ExpiresAt = jwt.NewNumericDate(now.Add(-30*time.Second)), nil, jwt.NewNumericDate(now.Add(-6*time.Second))
		})), jwt.ErrTokenExpired},
		{"no exp", sessionV, forge(t, ed, authKey, authKID, with(session, func(c *Claims) { c.ExpiresAt = nil })), jwt.ErrTokenRequiredClaimMissing},
		{"nbf in the future", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(10 * time.Second)) })), jwt.ErrTokenNotValidYet},
		{"nbf within leeway", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *Claims) { c.NotBefore = jwt.NewNumericDate(now.Add(4 * time.Second)) })), nil},
		{"iat in the future", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(now.Add(10 * time.Second)) })), jwt.ErrTokenUsedBeforeIssued},

		{"wrong iss", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *Claims) { c.Issuer = "parley-evil" })), jwt.ErrTokenInvalidIssuer},
		{"no iss", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *Claims) { c.Issuer = "" })), jwt.ErrTokenRequiredClaimMissing},
		{"wrong aud", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *Claims) { c.Audience = jwt.ClaimStrings{AudienceChat} })), jwt.ErrTokenInvalidAudience},
		{"aud lists another service too", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *Claims) { c.Audience = jwt.ClaimStrings{AudienceUsers, AudienceChat} })), errAudience},
		{"no sub", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *Claims) { c.Subject = "" })), errSubject},

		{"unknown kid", usersV, forge(t, ed, gwKey, map[string]any{"kid": "nope"}, internal), errUnknownKID},
		{"missing kid", usersV, forge(t, ed, gwKey, nil, internal), errNoKID},
		{"numeric kid", usersV, forge(t, ed, gwKey, map[string]any{"kid": 1}, internal), errNoKID},
		{"path-injection kid", usersV, forge(t, ed, gwKey, map[string]any{"kid": "../../etc/passwd"}, internal), errUnknownKID},
		{"attacker jwk with its own kid", usersV, forge(t, ed, attacker, map[string]any{"kid": attackerKID, "jwk": attackerJWK}, internal), errUnknownKID},
		{"attacker jwk claiming the real kid", usersV, forge(t, ed, attacker, map[string]any{"kid": gwKID, "jwk": attackerJWK}, internal), jwt.ErrTokenSignatureInvalid},
		{"crit header", usersV, forge(t, ed, gwKey, map[string]any{"kid": gwKID, "crit": []string{"exp"}}, internal), errCrit},

		{"internal lifetime 65 s is within leeway", usersV, forge(t, ed, gwKey, kid, lifetime(MaxInternalTTL+DefaultLeeway)), nil},
		{"internal lifetime 66 s", usersV, forge(t, ed, gwKey, kid, lifetime(MaxInternalTTL+DefaultLeeway+time.Second)), errLifetime},
		{"internal lifetime 1 h", usersV, forge(t, ed, gwKey, kid, lifetime(time.Hour)), errLifetime},
		{"internal token without iat", usersV, forge(t, ed, gwKey, kid, with(internal, func(c *Claims) { c.IssuedAt = nil })), errNoIAT},

		{"session token sent to a service", usersV, mustSign(t)(auth.Session("user-1", "sess-1", SessionTTL)), errUnknownKID},
		{"session token to a service trusting the auth key", usersBothV, mustSign(t)(auth.Session("user-1", "sess-1", SessionTTL)), jwt.ErrTokenInvalidIssuer},
		{"internal token for chat-service sent to user-service", usersV, mustSign(t)(gw.Internal("user-1", AudienceChat, 30*time.Second)), jwt.ErrTokenInvalidAudience},
		{"internal token sent to the gateway's session verifier", sessionV, good, errUnknownKID},
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
			if !errors.Is(err, ErrInvalid) || !errors.Is(err, tc.wantErr) {
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

	gwKey, attacker := newKey(t), newKey(t)
	v := mustVerifier(t, mustKeySet(t, gwKey), IssuerGateway, AudienceUsers)
	header := map[string]any{"kid": KeyID(pubOf(attacker)), "jku": srv.URL, "x5u": srv.URL, "x5c": []string{"MIIB"}}
	raw := forge(t, jwt.SigningMethodEdDSA, attacker, header, claimsAt(time.Now(), IssuerGateway, AudienceUsers, 30*time.Second))

	if _, err := v.Verify(raw); !errors.Is(err, errUnknownKID) {
		t.Errorf("err = %v, want %v", err, errUnknownKID)
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("key URL fetched %d times, want 0", n)
	}
}

func TestKeyRotation(t *testing.T) {
	oldKey, newK := newKey(t), newKey(t)
	raw := mustSign(t)(mustSigner(t, oldKey, IssuerGateway).Internal("user-1", AudienceChat, 30*time.Second))

	tests := []struct {
		name    string
		keys    *KeySet
		wantErr error
	}{
		{"old and new keys trusted", mustKeySet(t, oldKey, newK), nil},
		{"old key retired", mustKeySet(t, newK), errUnknownKID},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := mustVerifier(t, tc.keys, IssuerGateway, AudienceChat).Verify(raw)
			if !errors.Is(err, tc.wantErr) {
				t.Errorf("err = %v, want %v", err, tc.wantErr)
			}
		})
	}
}

func TestNewVerifierRejects(t *testing.T) {
	ks := mustKeySet(t, newKey(t))
	tests := []struct {
		name             string
		keys             *KeySet
		issuer, audience string
		opts             []VerifierOption
	}{
		{"nil keys", nil, IssuerGateway, AudienceUsers, nil},
		{"no issuer", ks, "", AudienceUsers, nil},
		{"no audience", ks, IssuerGateway, "", nil},
		{"negative leeway", ks, IssuerGateway, AudienceUsers, []VerifierOption{WithLeeway(-time.Second)}},
		{"internal bound lifted", ks, IssuerGateway, AudienceUsers, []VerifierOption{WithMaxLifetime(0)}},
		{"internal bound raised", ks, IssuerGateway, AudienceUsers, []VerifierOption{WithMaxLifetime(2 * MaxInternalTTL)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := NewVerifier(tc.keys, tc.issuer, tc.audience, tc.opts...); err == nil {
				t.Error("NewVerifier succeeded, want an error")
			}
		})
	}
}
