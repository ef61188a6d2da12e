package httpapi_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
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
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/httpapi"
	"github.com/parleychat/parley/chat-service/internal/postgres"
	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/token"
)

// fixture is a running API over its own database with a gateway signer.
type fixture struct {
	srv     *httptest.Server
	store   *postgres.Store
	gateway *token.Signer // the trusted gateway key
}

func newFixture(t *testing.T, cfg chat.Config) *fixture {
	t.Helper()
	pool := pgtest.New(t, "chat", migrations.FS())
	store := postgres.NewStore(pool)
	_, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := token.NewSigner(priv, token.IssuerGateway)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := token.NewKeySet(priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	v, err := token.NewVerifier(ks, token.IssuerGateway, token.AudienceChat)
	if err != nil {
		t.Fatal(err)
	}
	r := httpapi.NewRouter(httpapi.Config{Service: chat.NewService(store, nil, cfg), Verifier: v, Logger: zerolog.Nop()})
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return &fixture{srv: srv, store: store, gateway: gw}
}

func (f *fixture) user(t *testing.T) string {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	if _, err := f.store.UpsertUser(context.Background(), chat.User{ID: id, Username: "u" + id[len(id)-6:], UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return id
}

// tokenFor mints a real internal token for user.
func (f *fixture) tokenFor(t *testing.T, user string) string {
	t.Helper()
	tok, err := f.gateway.Internal(user, token.AudienceChat, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

type response struct {
	status int
	header http.Header
	body   map[string]any
}

// do sends a request with bearer tok ("" for none) and decodes the JSON.
func (f *fixture) do(t *testing.T, tok, method, path string, body any) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		raw, _ := json.Marshal(b)
		rd = bytes.NewReader(raw)
	}
	req, err := http.NewRequest(method, f.srv.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	out := response{status: res.StatusCode, header: res.Header}
	raw, _ := io.ReadAll(res.Body)
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &out.body); err != nil {
			t.Fatalf("%s %s: body %q is not a JSON object: %v", method, path, raw, err)
		}
	}
	return out
}

// want checks the status (and for problems the code), failing with context.
func want(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status = %d, want %d (body %v)", r.status, status, r.body)
	}
	if code != "" && r.body["code"] != code {
		t.Errorf("code = %v, want %s", r.body["code"], code)
	}
	if status >= 400 && r.header.Get("Content-Type") != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", r.header.Get("Content-Type"))
	}
}

func TestOnlyGatewayInternalTokensForUsersAreAccepted(t *testing.T) {
	t.Parallel()
	f := newFixture(t, chat.DefaultConfig)
	alice := f.user(t)
	_, otherKey, _ := ed25519.GenerateKey(nil)
	forger, _ := token.NewSigner(otherKey, token.IssuerGateway)
	_, authKey, _ := ed25519.GenerateKey(nil)
	auth, _ := token.NewSigner(authKey, token.IssuerAuth)
	mint := func(tok string, err error) string {
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	cases := []struct {
		name   string
		header string
		status int
	}{
		{"no token", "", 401},
		{"garbage", "Bearer not.a.jwt", 401},
		{"session token", "Bearer " + mint(auth.Session(alice, "sid-1", time.Minute)), 401},
		{"wrong audience", "Bearer " + mint(f.gateway.Internal(alice, token.AudienceUsers, 30*time.Second)), 401},
		{"unknown key", "Bearer " + mint(forger.Internal(alice, token.AudienceChat, 30*time.Second)), 401},
		{"anonymous subject", "Bearer " + mint(f.gateway.Internal("anonymous", token.AudienceChat, 30*time.Second)), 401},
		{"valid", "Bearer " + f.tokenFor(t, alice), 200},
	}
	if r := f.do(t, "", "GET", "/api/v1/no-such-route", nil); r.status != 401 {
		t.Errorf("unknown route without a token = %d, want 401", r.status)
	}
	if r := f.do(t, f.tokenFor(t, alice), "GET", "/api/v1/no-such-route", nil); r.status != 404 {
		t.Errorf("unknown route with a token = %d, want 404", r.status)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/conversations", nil)
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			// Identity headers a direct caller might try are ignored.
			req.Header.Set("X-User-Id", alice)
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != tc.status {
				t.Errorf("status = %d, want %d", res.StatusCode, tc.status)
			}
		})
	}
}

func TestConversationAndMessageFlow(t *testing.T) {
	t.Parallel()
	f := newFixture(t, chat.DefaultConfig)
	alice, bob, eve := f.user(t), f.user(t), f.user(t)
	at, bt, et := f.tokenFor(t, alice), f.tokenFor(t, bob), f.tokenFor(t, eve)

	r := f.do(t, at, "POST", "/api/v1/conversations", map[string]any{"kind": "direct", "members": []string{bob}})
	want(t, r, 201, "")
	conv := r.body["id"].(string)
	want(t, f.do(t, bt, "POST", "/api/v1/conversations", map[string]any{"kind": "direct", "members": []string{alice}}), 200, "")

	msgPath := "/api/v1/conversations/" + conv + "/messages"
	r = f.do(t, at, "POST", msgPath, map[string]any{"clientMsgId": "m1", "body": "hi bob"})
	want(t, r, 201, "")
	msgID := r.body["id"].(string)
	if r.body["seq"] != 1.0 || r.body["eventSeq"] != 2.0 {
		t.Errorf("message seq/eventSeq = %v/%v, want 1/2", r.body["seq"], r.body["eventSeq"])
	}
	r = f.do(t, at, "POST", msgPath, map[string]any{"clientMsgId": "m1", "body": "hi bob"})
	want(t, r, 200, "")
	if r.body["id"] != msgID {
		t.Errorf("retried send returned %v, want original %s", r.body["id"], msgID)
	}

	emoji := "/api/v1/conversations/" + conv + "/messages/" + msgID + "/reactions/" + url.PathEscape("👍")
	r = f.do(t, bt, "PUT", emoji, nil)
	want(t, r, 200, "")
	if rs := r.body["reactions"].([]any); len(rs) != 1 || rs[0].(map[string]any)["emoji"] != "👍" {
		t.Errorf("reactions = %v, want one 👍", rs)
	}
	want(t, f.do(t, bt, "PUT", "/api/v1/conversations/"+conv+"/messages/"+msgID+"/reactions/lol", nil), 400, "validation_failed")

	r = f.do(t, bt, "GET", msgPath+"?limit=10", nil)
	want(t, r, 200, "")
	if ms := r.body["messages"].([]any); len(ms) != 1 {
		t.Errorf("messages = %d, want 1", len(ms))
	}
	want(t, f.do(t, bt, "GET", msgPath+"?limit=abc", nil), 400, "validation_failed")
	want(t, f.do(t, bt, "POST", "/api/v1/conversations/"+conv+"/read", map[string]any{}), 400, "validation_failed")
	r = f.do(t, bt, "POST", "/api/v1/conversations/"+conv+"/read", map[string]any{"seq": 1})
	want(t, r, 200, "")
	if r.body["seq"] != 1.0 || r.body["userId"] != bob {
		t.Errorf("read receipt = %v, want bob at 1", r.body)
	}

	r = f.do(t, bt, "PATCH", "/api/v1/conversations/"+conv+"/messages/"+msgID, map[string]any{"body": "hacked"})
	want(t, r, 403, "not_author")
	r = f.do(t, at, "PATCH", "/api/v1/conversations/"+conv+"/messages/"+msgID, map[string]any{"body": "hi bob!"})
	want(t, r, 200, "")
	if r.body["editedAt"] == nil || r.body["body"] != "hi bob!" {
		t.Errorf("edited = %v", r.body)
	}
	r = f.do(t, at, "DELETE", "/api/v1/conversations/"+conv+"/messages/"+msgID, nil)
	want(t, r, 200, "")
	if r.body["deleted"] != true || r.body["body"] != "" {
		t.Errorf("deleted = %v, want a tombstone", r.body)
	}

	// Outsiders and forged ids get 404, whatever the route.
	forged := uuid.Must(uuid.NewV7()).String()
	for _, p := range []string{"/api/v1/conversations/" + conv, msgPath, "/api/v1/conversations/" + forged, "/api/v1/conversations/x"} {
		want(t, f.do(t, et, "GET", p, nil), 404, "not_found")
	}
	want(t, f.do(t, et, "POST", msgPath, map[string]any{"clientMsgId": "e1", "body": "let me in"}), 404, "not_found")

	r = f.do(t, at, "GET", "/api/v1/messages/search?q=bob", nil)
	want(t, r, 200, "")
	if ms := r.body["messages"].([]any); len(ms) != 0 {
		t.Errorf("search found %d messages, want 0 (the only match was deleted)", len(ms))
	}
}

func TestRequestValidationAndLimits(t *testing.T) {
	t.Parallel()
	cfg := chat.DefaultConfig
	cfg.MessageRate, cfg.MessageBurst = 1, 3
	f := newFixture(t, cfg)
	alice, bob := f.user(t), f.user(t)
	at := f.tokenFor(t, alice)
	r := f.do(t, at, "POST", "/api/v1/conversations", map[string]any{"kind": "group", "title": "g", "members": []string{bob}})
	want(t, r, 201, "")
	msgPath := "/api/v1/conversations/" + r.body["id"].(string) + "/messages"

	cases := []struct {
		name   string
		body   any
		status int
		code   string
		field  string
	}{
		{"body too long", map[string]any{"clientMsgId": "a", "body": strings.Repeat("x", 4001)}, 400, "validation_failed", "body"},
		{"missing clientMsgId", map[string]any{"body": "x"}, 400, "validation_failed", "clientMsgId"},
		{"unknown field", map[string]any{"clientMsgId": "b", "body": "x", "senderId": bob}, 400, "validation_failed", "senderId"},
		{"wrong type", map[string]any{"clientMsgId": 7, "body": "x"}, 400, "validation_failed", "clientMsgId"},
		{"oversized request", []byte(`{"clientMsgId":"c","body":"` + strings.Repeat("x", 40<<10) + `"}`), 413, "body_too_large", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, at, "POST", msgPath, tc.body)
			want(t, r, tc.status, tc.code)
			if tc.field != "" {
				errs, _ := r.body["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["field"] != tc.field {
					t.Errorf("errors = %v, want field %s", r.body["errors"], tc.field)
				}
			}
		})
	}

	t.Run("flooding", func(t *testing.T) {
		var last response
		for i := range 10 {
			last = f.do(t, at, "POST", msgPath, map[string]any{"clientMsgId": fmt.Sprintf("flood-%d", i), "body": "x"})
			if last.status == 429 {
				break
			}
			want(t, last, 201, "")
		}
		want(t, last, 429, "rate_limited")
		if last.header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
	})
}
