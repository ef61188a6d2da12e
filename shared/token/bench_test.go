package token

import (
	"testing"
	"time"
)

// BenchmarkVerifyAndMint is the gateway's per-request token cost: verify the
// user's session token, then mint the internal token for the service call.
func BenchmarkVerifyAndMint(b *testing.B) {
	authKey, gwKey := newKey(b), newKey(b)
	session := mustSign(b)(mustSigner(b, authKey, IssuerAuth).Session("user-1", "sess-1", SessionTTL))
	v := mustVerifier(b, mustKeySet(b, authKey), IssuerAuth, AudienceGateway)
	gw := mustSigner(b, gwKey, IssuerGateway)
	b.ReportAllocs()
	for b.Loop() {
		c, err := v.Verify(session)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := gw.Internal(c.Subject, AudienceChat, 30*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is a service's per-request cost of checking an internal token.
func BenchmarkVerify(b *testing.B) {
	gwKey := newKey(b)
	raw := mustSign(b)(mustSigner(b, gwKey, IssuerGateway).Internal("user-1", AudienceChat, MaxInternalTTL))
	v := mustVerifier(b, mustKeySet(b, gwKey), IssuerGateway, AudienceChat)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign is the cost of minting one internal token.
func BenchmarkSign(b *testing.B) {
	gw := mustSigner(b, newKey(b), IssuerGateway)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gw.Internal("user-1", AudienceChat, 30*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}
