package httpapi_test

import (
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/auth-service/internal/httpapi"
	"github.com/parleychat/parley/auth-service/internal/password"
	"github.com/parleychat/parley/auth-service/internal/postgres"
	"github.com/parleychat/parley/auth-service/internal/sessiontoken"
	"github.com/parleychat/parley/auth-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
)

const goodPassword = "correct horse battery staple"

// harness is auth-service's router on a fresh database, with the gateway's
// and auth-service's real signing keys.
type harness struct {
	srv     *httptest.Server
	pool    *pgxpool.Pool
	gateway *token.Signer // mints internal tokens, as the gateway does
	auth    *token.Signer // auth-service's session-token signer
	gwKey   ed25519.PrivateKey
}

func newHarness(t testing.TB, params password.Params, edit func(*auth.Config)) *harness {
	t.Helper()
	pool := pgtest.New(t, "auth_test", migrations.FS)
	gw := tokentest.NewIssuer(t, token.IssuerGateway)
	gateway, gwKey, authSigner := gw.Signer, gw.Key, tokentest.NewIssuer(t, token.IssuerAuth).Signer
	verifier := gw.Verifier(t, token.AudienceAuth)
	hasher, err := password.NewHasher(params, 4)
	if err != nil {
		t.Fatal(err)
	}
	cfg := auth.DefaultConfig()
	if edit != nil {
		edit(&cfg)
	}
	svc, err := auth.NewService(postgres.New(pool), postgres.NewLimiter(pool), hasher, sessiontoken.New(authSigner), cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(httpapi.NewRouter(httpapi.Deps{Service: svc, Verifier: verifier, Logger: zerolog.Nop()}))
	t.Cleanup(srv.Close)
	// A 3xx is handed back as it is, so a test sees that none is sent.
	srv.Client().CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &harness{srv: srv, pool: pool, gateway: gateway, auth: authSigner, gwKey: gwKey}
}

// internal mints what the gateway sends for user sub in session sid.
func (h *harness) internal(t testing.TB, sub, sid string) string {
	t.Helper()
	now := time.Now().Truncate(time.Second)
	tok, err := h.gateway.Sign(token.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: sub, Audience: jwt.ClaimStrings{token.AudienceAuth},
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(30 * time.Second)),
		},
		SessionID: sid,
	})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (h *harness) anonymous(t testing.TB) string { return h.internal(t, "anonymous", "") }

// response is a decoded answer.
type response struct {
	status int
	header http.Header
	raw    []byte
	body   map[string]any
}

// do sends a request with bearer (empty: none) and extra headers.
func (h *harness) do(t testing.TB, method, path, body, bearer string, headers ...string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	out := response{status: resp.StatusCode, header: resp.Header, raw: raw}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
		}
	}
	return out
}

// want fails unless the answer has status (and, for problems, code).
func (r response) want(t testing.TB, status int, code string) response {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d; body %s", r.status, status, r.raw)
	}
	if code != "" {
		if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
			t.Errorf("Content-Type = %q, want application/problem+json", ct)
		}
		if r.body["code"] != code {
			t.Errorf("code = %v, want %s; body %s", r.body["code"], code, r.raw)
		}
	}
	return r
}

// str digs a string out of nested objects: r.str("user", "id").
func (r response) str(path ...string) string {
	var cur any = r.body
	for _, p := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return ""
		}
		cur = m[p]
	}
	s, _ := cur.(string)
	return s
}

// fieldErrors returns field -> message from a validation problem.
func (r response) fieldErrors() map[string]string {
	out := map[string]string{}
	list, _ := r.body["errors"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		f, _ := m["field"].(string)
		msg, _ := m["message"].(string)
		out[f] = msg
	}
	return out
}

// signup creates username through the API and returns the answer.
func (h *harness) signup(t testing.TB, username string) response {
	t.Helper()
	body := `{"username":"` + username + `","email":"` + username + `@example.com","password":"` + goodPassword + `"}`
	return h.do(t, "POST", "/api/v1/auth/signup", body, h.anonymous(t), "X-Forwarded-For", "203.0.113.7").want(t, http.StatusCreated, "")
}

// user returns an internal token for the user and session of a grant answer.
func (h *harness) user(t testing.TB, grant response) string {
	t.Helper()
	return h.internal(t, grant.str("user", "id"), grant.str("session", "id"))
}
