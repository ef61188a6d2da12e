package realtime

import (
	"math"
	"testing"
	"time"
)

// TestShedderOnlyWhileOverloaded: without overload refusals nothing is
// shed, however many commands are in flight; a refusal limits the commands
// in flight to three quarters of those there were, once per spell; answers
// raise the limit; a second without refusals lifts it.
func TestShedderOnlyWhileOverloaded(t *testing.T) {
	var g shedder
	t0 := time.Unix(1_000_000, 0)
	for i := range 5000 {
		if !g.admit(t0) {
			t.Fatalf("command %d shed with no overload refusal seen", i)
		}
	}
	for range 5000 {
		g.done(t0, false)
	}

	for range 100 {
		g.admit(t0)
	}
	// The spell's refusals arrive together: the first cuts, the rest not.
	for range 20 {
		g.done(t0, true)
	}
	if g.limit != 75 { // 0.75 × the 100 in flight at the first refusal
		t.Fatalf("limit after a spell of refusals = %v, want 75", g.limit)
	}
	if g.admit(t0) {
		t.Fatal("admitted with 80 in flight over a limit of 75")
	}
	for range 10 {
		g.done(t0, false)
	}
	for g.admit(t0) {
	}
	if want := int(math.Ceil(g.limit)); g.inflight != want {
		t.Fatalf("in flight %d after admitting up to the limit %v, want %d", g.inflight, g.limit, want)
	}
	// A refusal in a later spell cuts again, from the limit.
	t1 := t0.Add(100 * time.Millisecond)
	cut := g.limit
	g.done(t1, true)
	if want := cut * shedBackoff; g.limit != want {
		t.Fatalf("second cut: limit %v, want %v", g.limit, want)
	}
	// Commands answered without refusal raise it, by 1/limit each.
	before := g.limit
	g.done(t1, false)
	if g.limit <= before || g.limit > before+1/before+1e-9 {
		t.Fatalf("limit after an answer = %v, want %v + 1/%v", g.limit, before, before)
	}
	// Still within the quiet time of the last refusal: limited.
	if g.admit(t1.Add(shedQuiet/2)) && float64(g.inflight) > g.limit {
		t.Fatal("admitted past the limit")
	}
	// A second without refusals: no limit any more.
	for g.inflight > 0 {
		g.done(t1, false)
	}
	later := t1.Add(shedQuiet + time.Millisecond)
	for i := range 1000 {
		if !g.admit(later) {
			t.Fatalf("command %d shed a second after the last refusal", i)
		}
	}
	if g.limit != 0 {
		t.Fatalf("limit %v after the quiet time, want none", g.limit)
	}
}

// TestShedderFloor: however small the spell, a few commands always pass,
// so the limit keeps learning.
func TestShedderFloor(t *testing.T) {
	var g shedder
	now := time.Unix(1_000_000, 0)
	g.admit(now)
	g.done(now, true)
	if g.limit != shedFloor {
		t.Fatalf("limit %v after a refusal with one command in flight, want the floor %d", g.limit, shedFloor)
	}
	for i := range shedFloor {
		if !g.admit(now) {
			t.Fatalf("command %d of the floor shed", i)
		}
	}
	if g.admit(now) {
		t.Fatal("admitted past the floor while overloaded")
	}
}

// TestOverloadedCommandsShedAtTheGateway: once chat-service has refused
// commands as overloaded with many in flight, a command over the limit is
// answered 503 overloaded with chat-service's retry hint and a traceId,
// without reaching the link; once the limit has room, commands cross the
// link again.
func TestOverloadedCommandsShedAtTheGateway(t *testing.T) {
	r := newRig(t, Options{})
	r.link.reply = func(string, map[string]any) []any { return []any{map[string]any{"ok": true}} }
	sock, err := r.dial(cookie(r.sessionToken("user-a", "s1")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	send := func() map[string]any {
		t.Helper()
		got := make(chan []any, 1)
		data := map[string]any{"conversationId": "c1", "clientMsgId": "k1", "body": "hi"}
		if err := sock.Emit("message:send", data, func(args []any, err error) { got <- args }); err != nil {
			t.Fatal(err)
		}
		select {
		case a := <-got:
			m, _ := a[0].(map[string]any)
			return m
		case <-time.After(10 * time.Second):
			t.Fatal("no ack")
			return nil
		}
	}
	// 20 commands in flight when chat-service refuses one as overloaded:
	// the limit becomes 15 with 19 still in flight.
	now := time.Now()
	for range 20 {
		r.srv.shed.admit(now)
	}
	r.srv.shed.done(now, true)

	a := send()
	e, _ := a["error"].(map[string]any)
	if a["ok"] != false || e["status"] != float64(503) || e["code"] != "overloaded" || a["retryAfterMs"] != float64(1000) || e["traceId"] == "" || e["traceId"] == nil {
		t.Fatalf("ack %v, want 503 overloaded with retryAfterMs 1000 and a traceId", a)
	}
	select {
	case c := <-r.link.calls:
		t.Fatalf("a shed command reached the link: %v", c.event)
	case <-time.After(100 * time.Millisecond):
	}

	for range 19 {
		r.srv.shed.done(now, false)
	}
	if a := send(); a["ok"] != true {
		t.Fatalf("ack %v once the limit had room, want chat-service's", a)
	}
	select {
	case <-r.link.calls:
	case <-time.After(5 * time.Second):
		t.Fatal("the command did not reach the link once the limit had room")
	}
}
