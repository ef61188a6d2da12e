package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/shared/trace"
)

func TestCommandIsForwardedWithAck(t *testing.T) {
	r := newRig(t, Options{})
	chatAck := map[string]any{"ok": true, "message": map[string]any{"id": "m1", "seq": float64(7)}}
	r.link.reply = func(string, map[string]any) []any { return []any{chatAck} }
	sock, err := r.dial(cookie(r.sessionToken("user-a", "s1")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	for _, event := range commands {
		t.Run(event, func(t *testing.T) {
			data := map[string]any{"conversationId": "c1", "clientMsgId": "k1", "body": "hi", "userId": "forged"}
			got := make(chan []any, 1)
			if err := sock.Emit(event, data, func(args []any, err error) { got <- args }); err != nil {
				t.Fatal(err)
			}
			var ack []any
			select {
			case ack = <-got:
			case <-time.After(10 * time.Second):
				t.Fatal("no ack")
			}
			if len(ack) != 1 || !reflect.DeepEqual(ack[0], chatAck) {
				t.Errorf("client ack = %v, want chat-service's %v unchanged", ack, chatAck)
			}
			s := <-r.link.calls
			if s.event != event {
				t.Fatalf("link got %q, want %q", s.event, event)
			}
			claims, err := r.chatVer.Verify(s.payload["token"].(string))
			if err != nil {
				t.Fatalf("chat-service would refuse the command token: %v", err)
			}
			if claims.Subject != "user-a" || claims.SessionID != "s1" {
				t.Errorf("token sub/sid = %s/%s, want user-a/s1", claims.Subject, claims.SessionID)
			}
			if _, ok := trace.Parse(s.payload["traceparent"].(string)); !ok {
				t.Errorf("traceparent %v is not valid", s.payload["traceparent"])
			}
			if !reflect.DeepEqual(s.payload["data"], data) {
				t.Errorf("data = %v, want the client payload %v", s.payload["data"], data)
			}
		})
	}
}

func TestCommandTimeoutAck(t *testing.T) {
	r := newRig(t, Options{CommandTimeout: 200 * time.Millisecond})
	sock, err := r.dial(cookie(r.sessionToken("user-a", "s1")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []any, 1)
	_ = sock.Emit("message:send", map[string]any{"body": "x"}, func(args []any, err error) { got <- args })
	select {
	case ack := <-got:
		m, _ := ack[0].(map[string]any)
		e, _ := m["error"].(map[string]any)
		if m["ok"] != false || e["code"] != "gateway_timeout" || e["status"] != float64(504) {
			t.Errorf("ack = %v, want ok:false gateway_timeout 504", ack)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no ack")
	}
}

func TestTypingIsThrottled(t *testing.T) {
	r := newRig(t, Options{TypingInterval: time.Hour})
	sock, err := r.dial(cookie(r.sessionToken("user-a", "s1")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		_ = sock.Emit("typing", map[string]any{"conversationId": "c1", "typing": true})
	}
	_ = sock.Emit("typing", map[string]any{"conversationId": "c2", "typing": true})
	_ = sock.Emit("typing", map[string]any{"conversationId": "c1", "typing": false})
	want := []string{"c1:true", "c2:true", "c1:false"}
	waitFor(t, "three typing signals", func() bool { return len(r.link.sentEvents()) >= 3 })
	time.Sleep(200 * time.Millisecond) // let any wrongly forwarded extra arrive
	var got []string
	for _, s := range r.link.sentEvents() {
		d := s.payload["data"].(map[string]any)
		got = append(got, d["conversationId"].(string)+":"+strings.ToLower(jsonString(d["typing"])))
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("forwarded %v, want %v", got, want)
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// collector counts what one client socket receives per event name.
type collector struct {
	mu  sync.Mutex
	got map[string][]any
}

func (c *collector) on(name string) func(...any) {
	return func(args ...any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.got == nil {
			c.got = map[string][]any{}
		}
		c.got[name] = append(c.got[name], args...)
	}
}

func (c *collector) count(name string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.got[name])
}

func TestDeliverReachesRecipientsOnce(t *testing.T) {
	r := newRig(t, Options{})
	names := []string{"a1", "b1", "b2", "c1"}
	users := map[string]string{"a1": "user-a", "b1": "user-b", "b2": "user-b", "c1": "user-c"}
	cols := map[string]*wsClient{}
	for _, n := range names {
		cols[n] = r.wsConnect(t, users[n], r.sessionToken(users[n], "s-"+n))
	}

	msg := delivery(t, events.TypeMessageCreated, []string{"user-a", "user-b", "user-offline", "user-a"}, `{"id":"m1","seq":1,"eventSeq":1,"body":"hi"}`)
	for range 3 { // the queue redelivers: each socket must still get one copy
		if err := r.srv.Deliver(context.Background(), msg); err != nil {
			t.Fatalf("Deliver: %v", err)
		}
	}
	if err := r.srv.Deliver(context.Background(), delivery(t, "chat.unknown.thing", []string{"user-a"}, `{}`)); err != nil {
		t.Fatalf("Deliver of an unknown type: %v", err)
	}
	waitFor(t, "deliveries", func() bool {
		return cols["a1"].count("message:new") >= 1 && cols["b1"].count("message:new") >= 1 && cols["b2"].count("message:new") >= 1
	})
	time.Sleep(200 * time.Millisecond) // any duplicate would arrive by now
	for n, want := range map[string]int{"a1": 1, "b1": 1, "b2": 1, "c1": 0} {
		if got := cols[n].count("message:new"); got != want {
			t.Errorf("socket %s got %d message:new, want %d", n, got, want)
		}
	}
	if first := cols["a1"].payloads("message:new")[0]; first["id"] != "m1" || first["body"] != "hi" {
		t.Errorf("payload %v, want the delivery's payload", first)
	}
}

func TestDeliverRejectsMalformed(t *testing.T) {
	r := newRig(t, Options{})
	env := delivery(t, events.TypeMessageCreated, []string{"user-a"}, `{}`)
	env.Data = json.RawMessage(`{"recipients":"not-a-list"}`)
	if err := r.srv.Deliver(context.Background(), env); err == nil {
		t.Error("Deliver accepted a malformed delivery")
	}
}

func TestRevocationDisconnectsOnlyThatSession(t *testing.T) {
	r := newRig(t, Options{})
	s1, err := r.dial(cookie(r.sessionToken("user-a", "s1")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	s2, err := r.dial(cookie(r.sessionToken("user-a", "s2")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	var gone atomic.Int32
	s1.On("disconnect", func(...any) { gone.Add(1) })
	r.store.RevokeSessions("user-a", []string{"s1"}, time.Now().Add(time.Hour))
	// At least once: the Go client can report one server disconnect twice
	// (the transport's close, then the queued DISCONNECT packet).
	waitFor(t, "s1 disconnected", func() bool { return gone.Load() >= 1 && !s1.Connected() })
	time.Sleep(100 * time.Millisecond)
	if !s2.Connected() {
		t.Error("the other session's socket was disconnected too")
	}
	r.store.RevokeUserBefore("user-a", time.Now().Add(2*time.Second), time.Now().Add(time.Hour))
	waitFor(t, "s2 disconnected after the password change", func() bool { return !s2.Connected() })
}

// authFunc adapts a function to Authenticator.
type authFunc func(raw string) (session.Identity, error)

func (f authFunc) Authenticate(raw string) (session.Identity, error) { return f(raw) }

// TestRevocationWhileConnecting: a revocation that lands after the
// namespace middleware accepted the token but before the socket is
// registered (the library acknowledges CONNECT before the connection
// handler runs) still closes the socket.
func TestRevocationWhileConnecting(t *testing.T) {
	r := newRig(t, Options{})
	inner := r.srv.auth
	var calls atomic.Int32
	r.srv.auth = authFunc(func(raw string) (session.Identity, error) {
		id, err := inner.Authenticate(raw)
		if calls.Add(1) == 1 && err == nil {
			r.store.RevokeSessions(id.UserID, []string{id.SessionID}, time.Now().Add(time.Hour))
		}
		return id, err
	})
	// Judged on the server: the Go client queues decoded packets but
	// handles a transport close at once, so it can process the CONNECT ack
	// after the close and report itself connected on a dead transport.
	if _, err := r.dial(cookie(r.sessionToken("user-c", "s1")), "websocket"); err != nil {
		t.Logf("client: %v", err)
	}
	// The connection handler has run once the token was looked at again.
	waitFor(t, "the connection handler", func() bool { return calls.Load() >= 2 })
	waitFor(t, "the server to close the revoked session's socket", func() bool { return !r.srv.registry.has("user-c") })
}

// recordingPublisher keeps presence reports.
type recordingPublisher struct {
	mu      sync.Mutex
	reports []events.GatewayPresenceV1
}

func (p *recordingPublisher) Publish(_ context.Context, exchange, key string, body []byte, id, _ string) error {
	env, err := events.Decode(body)
	if err != nil || exchange != events.ExchangeRealtime || key != "realtime.gateway.presence.v1" || id != env.ID {
		return err
	}
	var d events.GatewayPresenceV1
	_ = env.DecodeData(&d)
	p.mu.Lock()
	p.reports = append(p.reports, d)
	p.mu.Unlock()
	return nil
}

func (p *recordingPublisher) last() (events.GatewayPresenceV1, int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.reports) == 0 {
		return events.GatewayPresenceV1{}, 0
	}
	return p.reports[len(p.reports)-1], len(p.reports)
}

func TestPresenceReports(t *testing.T) {
	r := newRig(t, Options{})
	pub := &recordingPublisher{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.srv.RunPresence(ctx, pub, "gw-1", time.Hour); close(done) }()

	sock, err := r.dial(cookie(r.sessionToken("user-a", "s1")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a report with user-a", func() bool {
		last, _ := pub.last()
		return reflect.DeepEqual(last.Users, []string{"user-a"})
	})
	if last, _ := pub.last(); last.GatewayID != "gw-1" || last.TTLSeconds != 3*3600 {
		t.Errorf("report %+v, want gateway gw-1 with TTL of three intervals", last)
	}
	sock.Disconnect()
	waitFor(t, "a report without user-a", func() bool {
		last, _ := pub.last()
		return len(last.Users) == 0
	})
	cancel()
	<-done
	if last, _ := pub.last(); len(last.Users) != 0 {
		t.Errorf("final report %+v, want no users", last)
	}
}

// TestCommandTokenNamesTheUser checks the internal token each command
// carries: minted by the gateway for this user and chat-service, short
// lived, and never anything the client sent. (Within 5 s the minter hands
// the same token out again for the same user and session; see
// session.mintReuse.)
func TestCommandTokenNamesTheUser(t *testing.T) {
	r := newRig(t, Options{})
	r.link.reply = func(string, map[string]any) []any { return []any{map[string]any{"ok": true}} }
	sock, err := r.dial(cookie(r.sessionToken("user-a", "s1")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		// Bounded: a lost ack fails the test instead of hanging it.
		emitAck(t, sock, "conversation:read", map[string]any{"conversationId": "c1", "seq": 1})
	}
	s := r.link.sentEvents()
	if len(s) != 2 {
		t.Fatalf("want two commands forwarded, got %d", len(s))
	}
	for i, sent := range s {
		c, err := r.chatVer.Verify(sent.payload["token"].(string))
		if err != nil || c.Subject != "user-a" || c.ExpiresAt.Sub(c.IssuedAt.Time) > token.MaxInternalTTL {
			t.Errorf("command %d token: %v (claims %+v), want user-a's, lifetime ≤ %s", i, err, c, token.MaxInternalTTL)
		}
	}
}

// TestDeliverGoldenExamples delivers chat-service's golden example of every
// event clients receive to a socket of its first recipient.
func TestDeliverGoldenExamples(t *testing.T) {
	r := newRig(t, Options{})
	n := 0
	for _, ex := range events.Examples() {
		env, err := events.Decode(ex.Body)
		if err != nil {
			t.Fatalf("%s: %v", ex.RoutingKey, err)
		}
		name, ok := events.SocketEvent(env.Type)
		if !ok {
			continue
		}
		n++
		t.Run(ex.RoutingKey, func(t *testing.T) {
			var d events.Delivery
			if err := env.DecodeData(&d); err != nil || len(d.Recipients) == 0 {
				t.Fatalf("delivery %v without recipients: %v", d, err)
			}
			got := r.wsConnect(t, d.Recipients[0], r.sessionToken(d.Recipients[0], "s-"+ex.RoutingKey))
			if err := r.srv.Deliver(context.Background(), env); err != nil {
				t.Fatalf("Deliver: %v", err)
			}
			waitFor(t, name, func() bool { return got.count(name) == 1 })
		})
	}
	if n < 9 {
		t.Errorf("delivered %d example types, want every chat.* and realtime typing/presence example", n)
	}
}

func TestDistinctRecipients(t *testing.T) {
	many := make([]string, 0, 40)
	for i := range 20 {
		many = append(many, fmt.Sprintf("user-%02d", i))
	}
	many = append(many, many...) // every one twice
	for _, tc := range []struct {
		in   []string
		want int
	}{
		{nil, 0}, {[]string{"a"}, 1}, {[]string{"a", "b"}, 2}, {[]string{"a", "b", "a"}, 2}, {many[:20], 20}, {many, 20},
	} {
		got := slices.Sorted(slices.Values(distinct(tc.in)))
		if len(got) != tc.want || len(slices.Compact(slices.Clone(got))) != len(got) {
			t.Errorf("distinct(%d ids) = %v, want %d distinct", len(tc.in), got, tc.want)
		}
	}
}
