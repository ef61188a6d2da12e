package token_test

import (
	"testing"
	"time"

	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

// BenchmarkVerifyAndMint is the gateway's per-request token cost: verify the
// user's session token, then mint the internal token for the service call.
func BenchmarkVerifyAndMint(b *testing.B) {
	authKey, gwKey := tokentest.NewKey(b), tokentest.NewKey(b)
	session := tokentest.Must(b)(tokentest.Signer(b, authKey, token.IssuerAuth).Session("user-1", "sess-1", token.SessionTTL))
	v := tokentest.Verifier(b, tokentest.KeySet(b, authKey), token.IssuerAuth, token.AudienceGateway)
	gw := tokentest.Signer(b, gwKey, token.IssuerGateway)
	b.ReportAllocs()
	for b.Loop() {
		c, err := v.Verify(session)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := gw.Internal(c.Subject, token.AudienceChat, 30*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerify is a service's per-request cost of checking an internal token.
func BenchmarkVerify(b *testing.B) {
	gwKey := tokentest.NewKey(b)
	raw := tokentest.Must(b)(tokentest.Signer(b, gwKey, token.IssuerGateway).Internal("user-1", token.AudienceChat, token.MaxInternalTTL))
	v := tokentest.Verifier(b, tokentest.KeySet(b, gwKey), token.IssuerGateway, token.AudienceChat)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSign is the cost of minting one internal token.
func BenchmarkSign(b *testing.B) {
	gw := tokentest.Signer(b, tokentest.NewKey(b), token.IssuerGateway)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := gw.Internal("user-1", token.AudienceChat, 30*time.Second); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyCached is BenchmarkVerify with WithCache: the cost of a
// command whose token was already checked (same user, same second).
func BenchmarkVerifyCached(b *testing.B) {
	gwKey := tokentest.NewKey(b)
	raw := tokentest.Must(b)(tokentest.Signer(b, gwKey, token.IssuerGateway).Internal("user-1", token.AudienceChat, token.MaxInternalTTL))
	v := tokentest.Verifier(b, tokentest.KeySet(b, gwKey), token.IssuerGateway, token.AudienceChat, token.WithCache(1024))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(raw); err != nil {
			b.Fatal(err)
		}
	}
}
