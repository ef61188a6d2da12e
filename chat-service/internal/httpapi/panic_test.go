package httpapi_test

import (
	"crypto/ed25519"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/chat-service/internal/httpapi"
	"github.com/parleychat/parley/shared/token"
)

// TestRecoveredPanicAnswersProblem serves the API without its use cases, so
// that a handler panics: the client still gets a 500 problem+json with a
// trace id, and the server keeps serving.
func TestRecoveredPanicAnswersProblem(t *testing.T) {
	t.Parallel()
	_, priv, _ := ed25519.GenerateKey(nil)
	gw, _ := token.NewSigner(priv, token.IssuerGateway)
	ks, _ := token.NewKeySet(priv.Public().(ed25519.PublicKey))
	v, err := token.NewVerifier(ks, token.IssuerGateway, token.AudienceChat)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.NewRouter(httpapi.Config{Verifier: v, Logger: zerolog.Nop()}))
	t.Cleanup(srv.Close)
	f := &fixture{srv: srv, gateway: gw}
	tok, err := gw.Internal("0192f2d4-0000-7000-8000-000000000001", token.AudienceChat, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		r := f.do(t, tok, "GET", "/api/v1/conversations", nil)
		want(t, r, 500, "internal")
		if id, _ := r.body["traceId"].(string); id == "" {
			t.Errorf("problem %v has no traceId", r.body)
		}
	}
}
