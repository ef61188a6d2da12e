package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/token/tokentest"
	"github.com/parleychat/parley/user-service/internal/httpapi"
	"github.com/parleychat/parley/user-service/internal/postgres"
	"github.com/parleychat/parley/user-service/internal/users"
	"github.com/parleychat/parley/user-service/migrations"
)

// fixture is a router on a throwaway database with real keys: the
// gateway's (trusted) and an attacker's.
type fixture struct {
	srv      *httptest.Server
	pool     *pgxpool.Pool
	store    *postgres.Store
	gateway  *token.Signer // iss parley-gateway, trusted key
	auth     *token.Signer // iss parley-auth (session tokens), trusted key
	stranger *token.Signer // iss parley-gateway, untrusted key
}

// testLogger writes to the test's log; a fuzz target's log cannot be
// written from inside its iterations, so a fuzz fixture logs nothing.
func testLogger(t testing.TB) zerolog.Logger {
	if tt, ok := t.(*testing.T); ok {
		return zerolog.New(zerolog.NewTestWriter(tt))
	}
	return zerolog.Nop()
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	gw := tokentest.NewIssuer(t, token.IssuerGateway)
	verifier := gw.Verifier(t, token.AudienceUsers)
	f := &fixture{pool: pgtest.New(t, "users_test", migrations.FS)}
	f.store = postgres.New(f.pool)
	f.gateway = gw.Signer
	f.auth = tokentest.Signer(t, gw.Key, token.IssuerAuth)
	f.stranger = tokentest.NewIssuer(t, token.IssuerGateway).Signer
	f.srv = httptest.NewServer(httpapi.NewRouter(httpapi.Deps{
		Service: users.NewService(f.store), Verifier: verifier, Logger: testLogger(t),
	}))
	t.Cleanup(f.srv.Close)
	return f
}

// internal mints the token the gateway would send for userID.
func (f *fixture) internal(t testing.TB, userID string) string {
	t.Helper()
	tok, err := f.gateway.Internal(userID, token.AudienceUsers, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (f *fixture) user(t testing.TB, username string) string {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	if _, err := f.store.CreateProfile(context.Background(), "test", uuid.NewString(),
		users.NewProfile{UserID: id, Username: username, CreatedAt: time.Now().UTC()}); err != nil {
		t.Fatal(err)
	}
	return id
}

// noRedirects hands back a 3xx as it is, so a test can see that none is
// ever sent.
var noRedirects = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

// do sends a request with bearer (empty: none) and extra headers, the same
// helper shape as auth-service's tests.
func (f *fixture) do(t testing.TB, method, path, body, bearer string, header ...string) response {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, r)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := noRedirects.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	out := response{status: resp.StatusCode, header: resp.Header, raw: string(raw)}
	_ = json.Unmarshal(raw, &out.body)
	return out
}

func TestEveryRouteRequiresTheGatewaysInternalToken(t *testing.T) {
	f := newFixture(t)
	alice := f.user(t, "alice")
	session, _ := f.auth.Session(alice, uuid.NewString(), time.Minute)
	wrongAud, _ := f.gateway.Internal(alice, token.AudienceChat, 30*time.Second)
	forged, _ := f.stranger.Internal(alice, token.AudienceUsers, 30*time.Second)
	anonymous := f.internal(t, "anonymous")
	credentials := []struct {
		name   string
		bearer string
		want   int
	}{
		{"no token (a direct call)", "", http.StatusUnauthorized},
		{"garbage", "not-a-jwt", http.StatusUnauthorized},
		{"the user's session token", session, http.StatusUnauthorized},
		{"internal token for chat-service", wrongAud, http.StatusUnauthorized},
		{"token signed with an untrusted key", forged, http.StatusUnauthorized},
		{"anonymous internal token", anonymous, http.StatusUnauthorized},
		{"valid internal token", f.internal(t, alice), http.StatusOK},
	}
	routes := []struct{ method, path, body string }{
		{"GET", "/api/v1/users/me", ""},
		{"PATCH", "/api/v1/users/me", `{"bio":"hi"}`},
		{"GET", "/api/v1/users/" + alice, ""},
		{"GET", "/api/v1/users?query=al", ""},
	}
	for _, c := range credentials {
		for _, r := range routes {
			got := f.do(t, r.method, r.path, r.body, c.bearer)
			if got.status != c.want {
				t.Errorf("%s %s with %s: status %d, want %d (%s)", r.method, r.path, c.name, got.status, c.want, got.raw)
			}
			if c.want == http.StatusUnauthorized && (got.body["code"] != "unauthorized" || got.header.Get("Content-Type") != "application/problem+json") {
				t.Errorf("%s %s with %s: body %s, want an unauthorized problem", r.method, r.path, c.name, got.raw)
			}
		}
	}
}

func TestProfileNotReady(t *testing.T) {
	f := newFixture(t)
	newcomer := f.internal(t, uuid.Must(uuid.NewV7()).String()) // signed up, event not consumed yet
	for _, r := range []struct{ method, body string }{{"GET", ""}, {"PATCH", `{"displayName":"New"}`}} {
		got := f.do(t, r.method, "/api/v1/users/me", r.body, newcomer)
		if got.status != http.StatusNotFound || got.body["code"] != "profile_not_ready" || got.header.Get("Retry-After") != "1" {
			t.Errorf("%s /users/me before the profile exists: %d %v (Retry-After %q), want 404 profile_not_ready with Retry-After 1",
				r.method, got.status, got.raw, got.header.Get("Retry-After"))
		}
	}
}

func TestReadAndEditOwnProfile(t *testing.T) {
	f := newFixture(t)
	alice := f.user(t, "alice")
	tok := f.internal(t, alice)

	got := f.do(t, "GET", "/api/v1/users/me", "", tok)
	if got.status != http.StatusOK || got.body["userId"] != alice || got.body["username"] != "alice" ||
		got.body["displayName"] != "alice" || got.body["bio"] != "" || got.body["avatarUrl"] != nil {
		t.Fatalf("GET /users/me = %d %s", got.status, got.raw)
	}
	if _, err := time.Parse(time.RFC3339, got.body["createdAt"].(string)); err != nil || !strings.HasSuffix(got.body["createdAt"].(string), "Z") {
		t.Errorf("createdAt %v is not RFC 3339 UTC", got.body["createdAt"])
	}

	got = f.do(t, "PATCH", "/api/v1/users/me", `{"displayName":"  Alice L. ","bio":"Down the\nrabbit hole","avatarUrl":"https://cdn.example.com/alice.png"}`, tok)
	if got.status != http.StatusOK || got.body["displayName"] != "Alice L." || got.body["bio"] != "Down the\nrabbit hole" ||
		got.body["avatarUrl"] != "https://cdn.example.com/alice.png" || got.body["updatedAt"] == got.body["createdAt"] {
		t.Fatalf("PATCH /users/me = %d %s", got.status, got.raw)
	}
	// The change is announced in the same transaction, once per change.
	_ = f.do(t, "PATCH", "/api/v1/users/me", `{"displayName":"Alice L."}`, tok) // no change
	var n int
	if err := f.pool.QueryRow(context.Background(), `SELECT count(*) FROM outbox WHERE routing_key = 'users.profile.updated.v1' AND aggregate_id = $1`, alice).Scan(&n); err != nil || n != 1 {
		t.Errorf("outbox holds %d users.profile.updated.v1 rows (%v), want 1", n, err)
	}
	got = f.do(t, "PATCH", "/api/v1/users/me", `{"avatarUrl":""}`, tok)
	if got.status != http.StatusOK || got.body["avatarUrl"] != nil || got.body["bio"] != "Down the\nrabbit hole" {
		t.Errorf("clearing the avatar: %d %s", got.status, got.raw)
	}
}

func TestUpdateValidation(t *testing.T) {
	f := newFixture(t)
	tok := f.internal(t, f.user(t, "bob"))
	tests := []struct {
		name       string
		body       string
		header     []string
		wantStatus int
		wantFields []string
	}{
		{"empty display name", `{"displayName":""}`, nil, 400, []string{"displayName"}},
		{"display name too long", `{"displayName":"` + strings.Repeat("x", 65) + `"}`, nil, 400, []string{"displayName"}},
		{"control character", `{"displayName":"bob\u0007"}`, nil, 400, []string{"displayName"}},
		{"bio too long", `{"bio":"` + strings.Repeat("x", 501) + `"}`, nil, 400, []string{"bio"}},
		{"http avatar", `{"avatarUrl":"http://example.com/a.png"}`, nil, 400, []string{"avatarUrl"}},
		{"all three", `{"displayName":"","bio":"` + strings.Repeat("x", 501) + `","avatarUrl":"javascript:x"}`, nil, 400, []string{"displayName", "bio", "avatarUrl"}},
		{"unknown field", `{"username":"root"}`, nil, 400, []string{"username"}},
		{"wrong type", `{"bio":42}`, nil, 400, []string{"bio"}},
		{"not JSON", `{"bio":`, nil, 400, []string{""}},
		{"not a JSON content type", `bio=x`, []string{"Content-Type", "application/x-www-form-urlencoded"}, 415, nil},
		{"too large", `{"bio":"` + strings.Repeat("x", 20<<10) + `"}`, nil, 413, nil},
	}
	for _, tt := range tests {
		got := f.do(t, "PATCH", "/api/v1/users/me", tt.body, tok, tt.header...)
		if got.status != tt.wantStatus {
			t.Errorf("%s: status %d, want %d (%s)", tt.name, got.status, tt.wantStatus, got.raw)
			continue
		}
		errs, _ := got.body["errors"].([]any)
		var fields []string
		for _, e := range errs {
			fields = append(fields, fmt.Sprint(e.(map[string]any)["field"]))
		}
		if strings.Join(fields, ",") != strings.Join(tt.wantFields, ",") {
			t.Errorf("%s: field errors %v, want %v (%s)", tt.name, fields, tt.wantFields, got.raw)
		}
	}
	if got := f.do(t, "GET", "/api/v1/users/me", "", tok); got.body["displayName"] != "bob" || got.body["bio"] != "" {
		t.Errorf("a refused update changed the profile: %s", got.raw)
	}
}

func TestGetAnotherUser(t *testing.T) {
	f := newFixture(t)
	alice, bob := f.user(t, "alice"), f.user(t, "bob")
	tok := f.internal(t, alice)
	tests := []struct {
		path     string
		status   int
		code     string
		username string
	}{
		{"/api/v1/users/" + bob, 200, "", "bob"},
		{"/api/v1/users/" + strings.ToUpper(bob), 200, "", "bob"},
		{"/api/v1/users/" + uuid.NewString(), 404, "not_found", ""},
		{"/api/v1/users/not-an-id", 404, "not_found", ""},
	}
	for _, tt := range tests {
		got := f.do(t, "GET", tt.path, "", tok)
		if got.status != tt.status || (tt.code != "" && got.body["code"] != tt.code) || (tt.username != "" && got.body["username"] != tt.username) {
			t.Errorf("GET %s = %d %s", tt.path, got.status, got.raw)
		}
	}
}

func TestSearchPagesThroughEveryMatchOnce(t *testing.T) {
	f := newFixture(t)
	me := f.user(t, "zz_me")
	for i := range 45 {
		f.user(t, fmt.Sprintf("user%02d", i))
	}
	tok := f.internal(t, me)

	seen := map[string]bool{}
	var sizes []int
	cursor := ""
	for page := 0; page < 10; page++ {
		q := url.Values{"query": {"USER"}, "limit": {"20"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		got := f.do(t, "GET", "/api/v1/users?"+q.Encode(), "", tok)
		if got.status != 200 {
			t.Fatalf("page %d: %d %s", page, got.status, got.raw)
		}
		list, _ := got.body["users"].([]any)
		sizes = append(sizes, len(list))
		prev := ""
		for _, u := range list {
			name := u.(map[string]any)["username"].(string)
			if seen[name] || name <= prev {
				t.Errorf("page %d: %s repeated or out of order", page, name)
			}
			seen[name], prev = true, name
		}
		next, _ := got.body["nextCursor"].(string)
		if next == "" {
			break
		}
		cursor = next
	}
	if fmt.Sprint(sizes) != "[20 20 5]" || len(seen) != 45 {
		t.Errorf("page sizes %v, %d distinct users; want [20 20 5] and 45", sizes, len(seen))
	}

	bad := []struct {
		query string
		field string
	}{
		{"limit=0", "limit"},
		{"limit=101", "limit"},
		{"limit=ten", "limit"},
		{"query=user&cursor=garbage", "cursor"},
		{"query=other&cursor=" + cursor, "cursor"},
		{"query=" + strings.Repeat("a", 65), "query"},
	}
	for _, b := range bad {
		got := f.do(t, "GET", "/api/v1/users?"+b.query, "", tok)
		errs, _ := got.body["errors"].([]any)
		if got.status != 400 || len(errs) != 1 || errs[0].(map[string]any)["field"] != b.field {
			t.Errorf("GET /users?%s = %d %s, want 400 on %s", b.query, got.status, got.raw, b.field)
		}
	}
	got := f.do(t, "GET", "/api/v1/users", "", tok)
	if list, _ := got.body["users"].([]any); got.status != 200 || len(list) != 20 || got.body["nextCursor"] == nil {
		t.Errorf("GET /users without a query: %d, %d users; want the first 20 of everyone", got.status, len(list))
	}
}
