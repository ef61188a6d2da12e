package chatlink

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/parleychat/parley/shared/sioclient"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"
)

func TestPoolCommands(t *testing.T) {
	chat := newChatServer(t, validToken)
	p := newTestPool(t, chat.url())
	if r := request(p, "user-a", "message:send", `{}`, time.Second); !errors.Is(r.err, ErrUnavailable) {
		t.Fatalf("before Run: %v, want ErrUnavailable at once", r.err)
	}
	if p.Check(context.Background()) == nil {
		t.Error("Check is nil before any link connected")
	}
	runPool(t, p)
	waitUntil(t, "the link", 5*time.Second, func() bool { return p.Up() == 1 })

	r := request(p, "user-a", "message:send", `{"token":"u","traceparent":"","data":{"body":"hi"}}`, 5*time.Second)
	if r.err != nil || string(r.args) != `[{"echo":{"data":{"body":"hi"},"token":"u","traceparent":""},"ok":true}]` {
		t.Errorf("ack %s, %v; want the echo of the envelope", r.args, r.err)
	}
	began := time.Now()
	if r := request(p, "user-a", "sync", `{}`, 150*time.Millisecond); !errors.Is(r.err, ErrTimeout) {
		t.Errorf("unanswered command: %v, want ErrTimeout", r.err)
	} else if took := time.Since(began); took < 150*time.Millisecond || took > 2*time.Second {
		t.Errorf("timeout after %s, want about 150ms", took)
	}
	p.Send("user-a", "typing", json.RawMessage(`{"typing":true}`), 0, nil) // no ack asked
	if r := request(p, "user-a", "message:send", `{"n":2}`, 5*time.Second); r.err != nil {
		t.Errorf("after a timeout and an ack-less event: %v", r.err)
	}
}

// TestPendingFailAtOnceWhenTheLinkDrops: commands waiting for an ack are
// answered ErrUnavailable as soon as chat-service drops the link, and the
// link comes back on its own with a new token.
func TestPendingFailAtOnceWhenTheLinkDrops(t *testing.T) {
	chat := newChatServer(t, validToken)
	p := newTestPool(t, chat.url())
	runPool(t, p)
	waitUntil(t, "the link", 5*time.Second, func() bool { return p.Up() == 1 })
	const n = 20
	got := make(chan result, n)
	for range n {
		p.Send("user-a", "sync", json.RawMessage(`{}`), 30*time.Second, func(args json.RawMessage, err error) { got <- result{args, err} })
	}
	time.Sleep(100 * time.Millisecond)
	kicked := time.Now()
	chat.kickAll()
	for range n {
		select {
		case r := <-got:
			if !errors.Is(r.err, ErrUnavailable) {
				t.Errorf("pending command: %v, want ErrUnavailable", r.err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("a pending command was not answered 5 s after the link dropped")
		}
	}
	if took := time.Since(kicked); took > time.Second {
		t.Errorf("pending commands answered %s after the drop, want at once", took)
	}
	waitUntil(t, "a reconnect", 5*time.Second, func() bool { return chat.admits.Load() == 2 && p.Up() == 1 })
	if r := request(p, "user-a", "message:send", `{}`, 5*time.Second); r.err != nil {
		t.Errorf("after the reconnect: %v", r.err)
	}
}

// TestRefusedConnectIsRetried: chat-service refuses the first tokens (as a
// CONNECT_ERROR); the link retries with fresh ones until admitted.
func TestRefusedConnectIsRetried(t *testing.T) {
	var seen atomic.Int64
	chat := newChatServer(t, func(tok string) bool { return seen.Add(1) > 3 && validToken(tok) })
	p := newTestPool(t, chat.url())
	runPool(t, p)
	waitUntil(t, "the link after refusals", 5*time.Second, func() bool { return p.Up() == 1 })
	if got := chat.refused.Load(); got != 3 {
		t.Errorf("refused %d attempts, want 3", got)
	}
	var ce *sioclient.ConnectError
	_, err := dial(context.Background(), chat.url(), "bad", defaultClient())
	if !errors.As(err, &ce) || ce.Code != "unauthorized" {
		t.Errorf("dial with a bad token: %v, want a connect error with code unauthorized", err)
	}
}

// TestHeartbeatKeepsTheLink: with a 200 ms ping interval the link answers
// every ping and stays on one connection.
func TestHeartbeatKeepsTheLink(t *testing.T) {
	chat := &chatServer{t: t, valid: validToken, ping: 200 * time.Millisecond}
	ln := listen(t)
	chat.addr = ln.Addr().String()
	chat.serve(ln)
	t.Cleanup(chat.stop)
	p := newTestPool(t, chat.url())
	runPool(t, p)
	waitUntil(t, "the link", 5*time.Second, func() bool { return p.Up() == 1 })
	time.Sleep(1500 * time.Millisecond) // five ping intervals
	if r := request(p, "user-a", "message:send", `{}`, 5*time.Second); r.err != nil {
		t.Errorf("after five ping intervals: %v", r.err)
	}
	if got := chat.admits.Load(); got != 1 {
		t.Errorf("%d connections, want 1 (a missed pong makes the server drop the link)", got)
	}
}

// TestSilentServerIsDropped: a server that stops sending anything (no
// pings) is given up after pingInterval+pingTimeout, and commands waiting
// on it fail then, not at their own timeout.
func TestSilentServerIsDropped(t *testing.T) {
	var conns atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ws, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer ws.CloseNow()
		conns.Add(1)
		ctx := r.Context()
		_ = ws.Write(ctx, websocket.MessageText, []byte(`0{"sid":"s","upgrades":[],"pingInterval":100,"pingTimeout":100,"maxPayload":1000000}`))
		if _, _, err := ws.Read(ctx); err != nil { // CONNECT
			return
		}
		_ = ws.Write(ctx, websocket.MessageText, []byte(`40{"sid":"n"}`))
		for { // reads and never answers
			if _, _, err := ws.Read(ctx); err != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	p := newTestPool(t, srv.URL)
	runPool(t, p)
	waitUntil(t, "the link", 5*time.Second, func() bool { return p.Up() == 1 })
	began := time.Now()
	r := request(p, "user-a", "message:send", `{}`, 30*time.Second)
	if !errors.Is(r.err, ErrUnavailable) {
		t.Errorf("command to a silent server: %v, want ErrUnavailable", r.err)
	}
	if took := time.Since(began); took > 2*time.Second {
		t.Errorf("answered after %s, want soon after the 250 ms heartbeat window", took)
	}
	waitUntil(t, "a new connection", 5*time.Second, func() bool { return conns.Load() >= 2 })
}

// TestConnectCycles connects and disconnects links 1,000 times against
// chat-service's Socket.IO server, eight at a time; every start must carry
// a command within a bound, and none may hang.
func TestConnectCycles(t *testing.T) {
	chat := newChatServer(t, validToken)
	const cycles, workers = 1000, 8
	const bound = 3 * time.Second
	var mu sync.Mutex
	var took []time.Duration
	var hung atomic.Int64
	began := time.Now()
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < cycles; i += workers {
				d, ok := cycle(t, chat, fmt.Sprintf("user-%d", i), bound)
				if !ok {
					hung.Add(1)
					continue
				}
				mu.Lock()
				took = append(took, d)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	slices.Sort(took)
	pct := func(q float64) time.Duration {
		if len(took) == 0 {
			return 0
		}
		return took[min(len(took)-1, int(q*float64(len(took))))]
	}
	t.Logf("%d connect/disconnect cycles (%d at a time) in %s: %d hung; connect-to-first-ack p50 %s, p99 %s, max %s; %d admitted by chat",
		cycles, workers, time.Since(began).Round(time.Millisecond), hung.Load(), pct(0.50), pct(0.99), pct(1), chat.admits.Load())
	if hung.Load() != 0 {
		t.Errorf("%d of %d cycles hung (no command within %s, or Run not returning)", hung.Load(), cycles, bound)
	}
	if got := chat.admits.Load(); got != cycles {
		t.Errorf("chat admitted %d connections for %d cycles, want one each (no drop and reconnect)", got, cycles)
	}
}

// cycle starts a pool, waits until it carries one command, and stops it;
// it reports how long the command took from the start and whether both the
// command and the stop finished within bound.
func cycle(t *testing.T, chat *chatServer, key string, bound time.Duration) (time.Duration, bool) {
	p := newTestPool(t, chat.url())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { p.Run(ctx); close(done) }()
	ok := false
	for time.Since(start) < bound {
		if p.Up() == 1 {
			ok = request(p, key, "message:send", `{}`, bound).err == nil
			break
		}
		time.Sleep(200 * time.Microsecond)
	}
	took := time.Since(start)
	cancel()
	select {
	case <-done:
	case <-time.After(bound):
		t.Errorf("%s: Run did not return %s after its context ended", key, bound)
		<-done
		ok = false
	}
	return took, ok
}

// TestRestartRecoversWithinASecond stops chat-service's server, leaves it
// down long enough for the backoff to reach its cap, starts it again on
// the same address and measures until a command goes through.
func TestRestartRecoversWithinASecond(t *testing.T) {
	chat := newChatServer(t, validToken)
	p := newTestPool(t, chat.url())
	runPool(t, p)
	waitUntil(t, "the link", 5*time.Second, func() bool { return p.Up() == 1 })
	for round := range 3 {
		chat.stop()
		if r := request(p, "user-a", "message:send", `{}`, time.Second); !errors.Is(r.err, ErrUnavailable) {
			t.Errorf("round %d: while chat-service is down: %v, want ErrUnavailable", round, r.err)
		}
		time.Sleep(2 * time.Second)
		chat.start()
		ready := time.Now()
		for {
			r := request(p, "user-a", "message:send", `{}`, time.Second)
			if r.err == nil {
				break
			}
			if time.Since(ready) > 5*time.Second {
				t.Fatalf("round %d: no command through 5 s after chat-service was ready: %v", round, r.err)
			}
			time.Sleep(5 * time.Millisecond)
		}
		took := time.Since(ready)
		t.Logf("round %d: commands flow %s after chat-service is ready again", round, took.Round(time.Millisecond))
		if took > time.Second {
			t.Errorf("round %d: commands flowed %s after chat-service was ready, want within 1 s", round, took)
		}
		if got, want := p.Connects(), int64(round+2); got != want {
			t.Errorf("round %d: %d connections counted, want %d (the first and one per restart)", round, got, want)
		}
	}
}
