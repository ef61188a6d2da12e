package socketio_test

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/postgres"
	"github.com/parleychat/parley/chat-service/internal/socketio"
	"github.com/parleychat/parley/chat-service/internal/socketio/linktest"
	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/token"
)

type fixture struct {
	url     string
	link    *socketio.Server
	store   *postgres.Store
	svc     *chat.Service
	gateway *token.Signer
	// connected knows which link sockets the server has taken.
	connected *connectedLog
}

// newFixture serves a link over its own database; tune, if given, adjusts
// the link's configuration.
func newFixture(t *testing.T, tune ...func(*socketio.Config)) *fixture {
	t.Helper()
	store := postgres.NewStore(pgtest.New(t, "chat", migrations.FS()))
	_, priv, _ := ed25519.GenerateKey(nil)
	gw, err := token.NewSigner(priv, token.IssuerGateway)
	if err != nil {
		t.Fatal(err)
	}
	ks, _ := token.NewKeySet(priv.Public().(ed25519.PublicKey))
	v, err := token.NewVerifier(ks, token.IssuerGateway, token.AudienceChat)
	if err != nil {
		t.Fatal(err)
	}
	svc := chat.NewService(store, nil, chat.DefaultConfig)
	connected := &connectedLog{}
	cfg := socketio.Config{Service: svc, Verifier: v, Logger: zerolog.New(connected)}
	for _, f := range tune {
		f(&cfg)
	}
	link := socketio.New(cfg)
	mux := http.NewServeMux()
	mux.Handle(socketio.Path, link.Handler())
	srv := httptest.NewServer(mux)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		link.Close(ctx)
		srv.Close()
	})
	return &fixture{url: srv.URL, link: link, store: store, svc: svc, gateway: gw, connected: connected}
}

func (f *fixture) user(t *testing.T) string {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	if _, err := f.store.UpsertUser(context.Background(), chat.User{ID: id, Username: "u", UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) tokenFor(t *testing.T, sub, aud string) string {
	t.Helper()
	tok, err := f.gateway.Internal(sub, aud, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// dial opens a link with token tok, sent like the gateway does, and
// reports whether the server accepted it; an accepted link is returned
// once the server's connection handler has run for it.
func (f *fixture) dial(t *testing.T, tok string) (*linktest.Link, bool) {
	t.Helper()
	return linktest.DialReady(t, f.url, tok, tok, f.connected.connected)
}

// ack is a decoded command acknowledgement.
type ack struct {
	OK      bool             `json:"ok"`
	Created *bool            `json:"created"`
	Message chat.Message     `json:"message"`
	Events  []chat.SyncEvent `json:"events"`
	Gaps    []chat.Gap       `json:"gaps"`
	// RetryAfterMs comes with 429 and 503 refusals.
	RetryAfterMs int64 `json:"retryAfterMs"`
	Error        *struct {
		Status  int    `json:"status"`
		Code    string `json:"code"`
		TraceID string `json:"traceId"`
		Errors  []struct {
			Field string `json:"field"`
		} `json:"errors"`
	} `json:"error"`
}

// command emits name with the link envelope and waits for the ack.
func command(t *testing.T, sock *linktest.Link, name, userToken string, data any) ack {
	t.Helper()
	select {
	case a := <-emit(t, sock, name, userToken, data):
		return a
	case <-time.After(10 * time.Second):
		t.Fatalf("%s: no ack within 10s", name)
		return ack{}
	}
}

// emit sends name with the link envelope and returns where its ack will
// arrive; the link writes commands in the order emit was called.
func emit(t *testing.T, sock *linktest.Link, name, userToken string, data any) <-chan ack {
	t.Helper()
	got := make(chan ack, 1)
	err := sock.Emit(name, map[string]any{"token": userToken, "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "data": data},
		func(args []any, err error) {
			var a ack
			if err != nil || len(args) != 1 {
				t.Logf("%s ack: args %v, err %v", name, args, err)
			}
			if err == nil && len(args) == 1 {
				raw, _ := json.Marshal(args[0])
				_ = json.Unmarshal(raw, &a)
			}
			got <- a
		})
	if err != nil {
		t.Fatal(err)
	}
	return got
}

func TestHandshakeNeedsAnInternalTokenForChat(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	valid := f.tokenFor(t, "gateway-1", token.AudienceChat)
	cases := []struct {
		name string
		tok  string
		want bool
	}{
		{"missing", "", false},
		{"garbage", "x.y.z", false},
		{"wrong audience", f.tokenFor(t, "gateway-1", token.AudienceUsers), false},
		{"valid", valid, true},
	}
	for _, tc := range cases {
		t.Run("connect auth "+tc.name, func(t *testing.T) {
			if _, ok := linktest.DialReady(t, f.url, valid, tc.tok, f.connected.connected); ok != tc.want {
				t.Errorf("connected = %v, want %v", ok, tc.want)
			}
		})
	}
}

// TestTransportRefusesWithoutToken checks that no Engine.IO session exists
// without a valid bearer token: the polling handshake and the WebSocket
// upgrade are both answered 401 problem+json, with no sid.
func TestTransportRefusesWithoutToken(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	valid := f.tokenFor(t, "gateway-1", token.AudienceChat)
	wrongAudience := f.tokenFor(t, "gateway-1", token.AudienceUsers)
	upgrade := http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"},
		"Sec-Websocket-Key": {"dGhlIHNhbXBsZSBub25jZQ=="}, "Sec-Websocket-Version": {"13"}}
	cases := []struct {
		name      string
		transport string
		auth      string
		want      int
	}{
		{"polling without token", "polling", "", http.StatusUnauthorized},
		{"polling with garbage", "polling", "Bearer x.y.z", http.StatusUnauthorized},
		{"polling with wrong audience", "polling", "Bearer " + wrongAudience, http.StatusUnauthorized},
		{"polling with token as basic", "polling", "Basic " + valid, http.StatusUnauthorized},
		{"websocket without token", "websocket", "", http.StatusUnauthorized},
		{"websocket with wrong audience", "websocket", "Bearer " + wrongAudience, http.StatusUnauthorized},
		{"polling with token", "polling", "Bearer " + valid, http.StatusOK},
		{"websocket with token", "websocket", "Bearer " + valid, http.StatusSwitchingProtocols},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, f.url+socketio.Path+"?EIO=4&transport="+tc.transport, nil)
			if err != nil {
				t.Fatal(err)
			}
			if tc.transport == "websocket" {
				req.Header = upgrade.Clone()
			}
			if tc.auth != "" {
				req.Header.Set("Authorization", tc.auth)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			if res.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.want)
			}
			if tc.want != http.StatusUnauthorized {
				return
			}
			body, _ := io.ReadAll(res.Body)
			if ct := res.Header.Get("Content-Type"); ct != problem.ContentType {
				t.Errorf("content type = %q, want %s", ct, problem.ContentType)
			}
			if strings.Contains(string(body), "sid") {
				t.Errorf("refusal body %s mentions a session id", body)
			}
		})
	}
}

// directOverLink creates a direct conversation between two new users and
// opens a link, for tests of commands.
func (f *fixture) directOverLink(t *testing.T) (alice, bob string, conv chat.Conversation, sock *linktest.Link) {
	t.Helper()
	alice, bob = f.user(t), f.user(t)
	conv, _, err := f.svc.CreateConversation(context.Background(), alice, chat.NewConversation{Kind: chat.KindDirect, Members: []string{bob}})
	if err != nil {
		t.Fatal(err)
	}
	sock, ok := f.dial(t, f.tokenFor(t, "gateway-1", token.AudienceChat))
	if !ok {
		t.Fatal("link refused")
	}
	return alice, bob, conv, sock
}

func TestCommandsOverTheLink(t *testing.T) {
	t.Parallel()
	// The concurrent retries below queue behind each other on one worker;
	// on a loaded machine they may wait past the default wait budget and
	// be refused 503 overloaded, which is admission control (tested in
	// fairness_test.go), not what this test is about.
	f := newFixture(t, func(c *socketio.Config) { c.QueueWait = time.Minute })
	alice, bob, conv, sock := f.directOverLink(t)
	eve := f.user(t)
	at, bt := f.tokenFor(t, alice, token.AudienceChat), f.tokenFor(t, bob, token.AudienceChat)
	send := map[string]any{"conversationId": conv.ID, "clientMsgId": "k1", "body": "over the link"}

	a := command(t, sock, "message:send", at, send)
	if !a.OK || a.Message.Seq != 1 || a.Message.SenderID != alice || a.Created == nil || !*a.Created {
		t.Fatalf("send ack = %+v, want ok, seq 1 from alice, created", a)
	}
	first := a.Message.ID

	// Concurrent retries of the same clientMsgId all get the one message.
	var wg sync.WaitGroup
	acks := make([]ack, 5)
	for i := range acks {
		wg.Go(func() { acks[i] = command(t, sock, "message:send", at, send) })
	}
	wg.Wait()
	for i, a := range acks {
		if a.Message.ID != first {
			t.Errorf("retry %d got message %q (error %+v), want %s", i, a.Message.ID, a.Error, first)
		}
	}

	cases := []struct {
		name       string
		event      string
		tok        string
		data       any
		wantStatus int
		wantField  string
	}{
		{"edit by author", "message:edit", at, map[string]any{"conversationId": conv.ID, "messageId": first, "body": "edited"}, 0, ""},
		{"edit by other", "message:edit", bt, map[string]any{"conversationId": conv.ID, "messageId": first, "body": "x"}, 403, ""},
		{"read", "conversation:read", bt, map[string]any{"conversationId": conv.ID, "seq": 1}, 0, ""},
		{"read without seq", "conversation:read", bt, map[string]any{"conversationId": conv.ID}, 400, "seq"},
		{"non-member send", "message:send", f.tokenFor(t, eve, token.AudienceChat), map[string]any{"conversationId": conv.ID, "clientMsgId": "e", "body": "hi"}, 404, ""},
		{"oversized body", "message:send", at, map[string]any{"conversationId": conv.ID, "clientMsgId": "big", "body": strings.Repeat("x", 4001)}, 400, "body"},
		{"unknown field", "message:send", at, map[string]any{"conversationId": conv.ID, "clientMsgId": "u", "body": "x", "senderId": bob}, 400, "senderId"},
		{"per-command token for another service", "message:send", f.tokenFor(t, alice, token.AudienceUsers), send, 401, ""},
		{"anonymous per-command token", "message:send", f.tokenFor(t, "anonymous", token.AudienceChat), send, 401, ""},
		{"delete by author", "message:delete", at, map[string]any{"conversationId": conv.ID, "messageId": first}, 0, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := command(t, sock, tc.event, tc.tok, tc.data)
			if tc.wantStatus == 0 {
				if !a.OK {
					t.Fatalf("ack = %+v, want ok", a)
				}
				return
			}
			if a.OK || a.Error == nil || a.Error.Status != tc.wantStatus {
				t.Fatalf("ack = %+v, want error status %d", a, tc.wantStatus)
			}
			if tc.wantField != "" && (len(a.Error.Errors) == 0 || a.Error.Errors[0].Field != tc.wantField) {
				t.Errorf("errors = %+v, want field %s", a.Error.Errors, tc.wantField)
			}
		})
	}

	// Bob syncs from the conversation's creation: message, edit, read, delete.
	a = command(t, sock, "sync", bt, map[string]any{"conversations": map[string]int64{conv.ID: 1}})
	if !a.OK {
		t.Fatalf("sync ack = %+v", a)
	}
	var types []string
	for i, ev := range a.Events {
		types = append(types, ev.Type)
		if ev.EventSeq != int64(i)+2 || ev.ConversationID != conv.ID {
			t.Errorf("event %d = seq %d conv %s, want seq %d", i, ev.EventSeq, ev.ConversationID, i+2)
		}
	}
	want := []string{"message:new", "message:updated", "conversation:read", "message:deleted"}
	if len(types) != len(want) {
		t.Fatalf("sync types = %v, want %v", types, want)
	}
	for i := range want {
		if types[i] != want[i] {
			t.Errorf("sync types = %v, want %v", types, want)
			break
		}
	}
	var tomb chat.Message
	if err := json.Unmarshal(a.Events[3].Payload, &tomb); err != nil || !tomb.Deleted {
		t.Errorf("deleted payload = %s (%v), want a tombstone", a.Events[3].Payload, err)
	}
}

// TestUnknownCommandAnsweredAtOnce: a command this version does not know
// (a newer gateway beside it) is answered 404 unknown_command right away
// instead of never, and the known ones still work.
func TestUnknownCommandAnsweredAtOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice, _, conv, sock := f.directOverLink(t)
	at := f.tokenFor(t, alice, token.AudienceChat)
	a := command(t, sock, "message:pin", at, map[string]any{"conversationId": conv.ID})
	if a.OK || a.Error == nil || a.Error.Status != http.StatusNotFound || a.Error.Code != "unknown_command" {
		t.Fatalf("unknown command ack = %+v, want 404 unknown_command", a.Error)
	}
	if b := command(t, sock, "conversation:read", at, map[string]any{"conversationId": conv.ID, "seq": 0}); !b.OK {
		t.Fatalf("a known command after it = %+v, want ok", b.Error)
	}
}
