package httpapi_test

import (
	"bufio"
	"bytes"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/gateway/internal/httpapi"
	"github.com/parleychat/parley/gateway/internal/proxy"
	"github.com/parleychat/parley/shared/token"
)

// flakyInstance is a real user-service stand-in on its own port that can
// be taken down: while down it accepts each connection and closes it at
// once (as a crashing or restarting process does), counting them, so a
// test sees exactly how many times the gateway tried it.
type flakyInstance struct {
	url     string
	down    atomic.Bool
	refused atomic.Int64
	handler atomic.Pointer[http.Handler]
}

// newFlakyInstance starts an instance that is down until serve is called.
func newFlakyInstance(t *testing.T) *flakyInstance {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &flakyInstance{url: "http://" + ln.Addr().String()}
	f.down.Store(true)
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		(*f.handler.Load()).ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(&gatedListener{Listener: ln, f: f}) }()
	t.Cleanup(func() { _ = srv.Close() })
	return f
}

// gatedListener closes connections while its instance is down.
type gatedListener struct {
	net.Listener
	f *flakyInstance
}

// serve brings the instance up with the handler of e's user-service
// stand-in (which checks the internal tokens of e's gateway).
func (f *flakyInstance) serve(e *env) {
	h := e.users.srv.Config.Handler
	f.handler.Store(&h)
	f.down.Store(false)
}

func (l *gatedListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil || !l.f.down.Load() {
			return c, err
		}
		l.f.refused.Add(1)
		_ = c.Close()
	}
}

// statusOf sends a request and returns the status, Retry-After and body.
func statusOf(t *testing.T, e *env, c *http.Client, method, path, body string) (int, string, string) {
	t.Helper()
	resp := e.do(c, method, path, body, nil)
	b := readAll(t, resp)
	return resp.StatusCode, resp.Header.Get("Retry-After"), b
}

// TestRetriesOnlyIdempotentWithinBudget takes the only user-service
// instance down and checks that a bodiless idempotent request is tried
// twice and any other once, and that retries stop when the budget is
// spent and come back as requests earn it.
func TestRetriesOnlyIdempotentWithinBudget(t *testing.T) {
	down := newFlakyInstance(t)
	// Ratio 0.25 and at most 2 saved: exact in binary, so the expected
	// retries can be counted by hand.
	e := newEnv(t, envOptions{usersURLs: []string{down.url}, breaker: proxy.Breaker{Failures: 1000},
		retry: &proxy.RetryBudget{Ratio: 0.25, Max: 2}})
	c, _ := e.login(nil)

	tries := func(method, path, body string) int64 {
		t.Helper()
		before := down.refused.Load()
		status, _, b := statusOf(t, e, c, method, path, body)
		if status != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: status %d (%s), want 503", method, path, status, b)
		}
		return down.refused.Load() - before
	}
	// Budget 2 → after earning 0.25: 2, one retry → 1.
	if n := tries("GET", "/api/v1/users/me", ""); n != 2 {
		t.Errorf("GET: %d connections, want 2 (one retry)", n)
	}
	// PATCH is not idempotent: never retried (budget 1.25 stays 1.25).
	if n := tries("PATCH", "/api/v1/users/me", `{"displayName":"x"}`); n != 1 {
		t.Errorf("PATCH: %d connections, want 1 (no retry)", n)
	}
	// 1.5 → a retry → 0.5.
	if n := tries("GET", "/api/v1/users", ""); n != 2 {
		t.Errorf("second GET: %d connections, want 2", n)
	}
	// 0.75, then 1.0 → a retry → 0, then 0.25, 0.5, 0.75, 1.0 → a retry.
	want := []int64{1, 2, 1, 1, 1, 2}
	for i, w := range want {
		if n := tries("GET", "/api/v1/users/me", ""); n != w {
			t.Errorf("GET %d after the budget ran low: %d connections, want %d", i+1, n, w)
		}
	}
}

// TestRetryReachesAnotherInstance checks that with one of two instances
// down, idempotent requests all succeed (the failed attempt is retried on
// the other instance) and the down instance is ejected after
// BREAKER_FAILURES consecutive failures: it is not tried again until its
// breaker's open period ends.
func TestRetryReachesAnotherInstance(t *testing.T) {
	down, up := newFlakyInstance(t), newFlakyInstance(t)
	reg := prometheus.NewRegistry()
	e := newEnv(t, envOptions{usersURLs: []string{down.url, up.url},
		breaker: proxy.Breaker{Failures: 2, Open: time.Minute}, metrics: reg})
	up.serve(e)
	c, _ := e.login(nil)
	for i := range 20 {
		if status, _, b := statusOf(t, e, c, "GET", "/api/v1/users/me", ""); status != http.StatusOK {
			t.Fatalf("request %d: status %d (%s), want 200 from the instance that is up", i, status, b)
		}
	}
	if n := down.refused.Load(); n != 2 {
		t.Errorf("the down instance was tried %d times, want 2 (then ejected)", n)
	}
	for name, want := range map[string]float64{
		"parley_gateway_upstream_retries_total":   2,
		"parley_gateway_upstream_ejections_total": 1,
		"parley_gateway_upstream_open_total":      0,
	} {
		if got := counter(t, reg, name, token.AudienceUsers); got != want {
			t.Errorf("%s{service=%q} = %v, want %v", name, token.AudienceUsers, got, want)
		}
	}
}

// counter reads a counter of reg by name and service label (0 when it
// has no such series).
func counter(t *testing.T, reg *prometheus.Registry, name, service string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "service" && l.GetValue() == service {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestBreakerOpensFailsFastAndProbesBack takes the only instance down:
// after BREAKER_FAILURES failures the gateway answers 503 with
// Retry-After at once without trying it, and once the instance is back a
// probe after the open period closes the breaker again.
func TestBreakerOpensFailsFastAndProbesBack(t *testing.T) {
	inst := newFlakyInstance(t)
	open := 700 * time.Millisecond
	reg := prometheus.NewRegistry()
	e := newEnv(t, envOptions{usersURLs: []string{inst.url}, breaker: proxy.Breaker{Failures: 3, Open: open},
		retry: &proxy.RetryBudget{}, metrics: reg})
	c, _ := e.login(nil)
	for i := range 3 {
		if status, _, b := statusOf(t, e, c, "GET", "/api/v1/users/me", ""); status != http.StatusServiceUnavailable {
			t.Fatalf("failure %d: status %d (%s), want 503", i, status, b)
		}
	}
	if n := inst.refused.Load(); n != 3 {
		t.Fatalf("instance tried %d times, want 3", n)
	}
	if n := counter(t, reg, "parley_gateway_upstream_ejections_total", token.AudienceUsers); n != 1 {
		t.Errorf("parley_gateway_upstream_ejections_total = %v, want 1", n)
	}
	openedBy := time.Now()
	status, retryAfter, body := statusOf(t, e, c, "GET", "/api/v1/users/me", "")
	if time.Since(openedBy) < open {
		// Only meaningful while the breaker is certainly still open.
		if status != http.StatusServiceUnavailable || retryAfter != "1" || !strings.Contains(body, `"code":"unavailable"`) {
			t.Errorf("open breaker: status %d, Retry-After %q, body %s; want 503, 1 and code unavailable", status, retryAfter, body)
		}
		if n := inst.refused.Load(); n != 3 {
			t.Errorf("open breaker still tried the instance (%d connections, want 3)", n)
		}
		if n := counter(t, reg, "parley_gateway_upstream_open_total", token.AudienceUsers); n != 1 {
			t.Errorf("parley_gateway_upstream_open_total = %v, want 1", n)
		}
	}
	inst.serve(e)
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, _ := statusOf(t, e, c, "GET", "/api/v1/users/me", "")
		if status == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance back but the gateway still answers %d", status)
		}
		time.Sleep(50 * time.Millisecond) // poll; the probe is due after the open period
	}
	if status, _, b := statusOf(t, e, c, "GET", "/api/v1/users/me", ""); status != http.StatusOK {
		t.Errorf("after the probe: status %d (%s), want 200 (breaker closed)", status, b)
	}
}

// TestRouteClassTimeouts gives reads a short timeout and writes a long
// one: a read slower than its timeout is cut off with 504 long before the
// service would answer, and a write slower than the read timeout (but
// within its own) is answered.
func TestRouteClassTimeouts(t *testing.T) {
	e := newEnv(t, envOptions{edge: httpapi.Edge{ReadTimeout: 150 * time.Millisecond, WriteTimeout: 10 * time.Second}})
	e.users.setHandler(func(c *gin.Context) {
		// Reads take far longer than their timeout; writes only twice it.
		slow := 300 * time.Millisecond
		if c.Request.Method == "GET" {
			slow = 5 * time.Second
		}
		select {
		case <-time.After(slow):
		case <-c.Request.Context().Done():
		}
		c.JSON(http.StatusOK, gin.H{"ok": true})
	})
	c, _ := e.login(nil)
	start := time.Now()
	if status, _, b := statusOf(t, e, c, "GET", "/api/v1/users/me", ""); status != http.StatusGatewayTimeout {
		t.Errorf("slow read: status %d (%s), want 504", status, b)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("slow read answered after %s: the 150ms read timeout did not cut it off", d)
	}
	if status, _, b := statusOf(t, e, c, "PATCH", "/api/v1/users/me", `{"displayName":"x"}`); status != http.StatusOK {
		t.Errorf("slow write: status %d (%s), want 200 within the write timeout", status, b)
	}
}

// TestUserRateLimit checks the per-user read limit: one user's requests
// beyond rate×elapsed plus the burst get 429 with Retry-After and
// problem+json, the count admitted is within 5% of that, and another
// user and the same user's writes are unaffected.
func TestUserRateLimit(t *testing.T) {
	const perSecond = 5.0 // burst 10; low, so that a loaded machine still offers far more
	e := newEnv(t, envOptions{edge: httpapi.Edge{RateUserRead: perSecond, RateUserWrite: 1000}})
	alice, _ := e.login(nil)
	bob, _ := e.login(nil)
	// Several clients at once, so the offered load is far above the limit
	// even on a slow machine.
	var mu sync.Mutex
	var ok, limited int
	var last time.Time
	var bad []string
	// One request first: it creates alice's bucket (full), so the window
	// starts when it is answered, not when the test happens to start.
	sent := time.Now()
	if status, _, b := statusOf(t, e, alice, "GET", "/api/v1/users/me", ""); status != http.StatusOK {
		t.Fatalf("first request: status %d (%s)", status, b)
	}
	start := sent.Add(time.Since(sent) / 2)
	ok = 1
	var wg sync.WaitGroup
	for range 6 {
		wg.Go(func() {
			for time.Since(start) < 3*time.Second {
				resp, err := alice.Get(e.gw.URL + "/api/v1/users/me")
				if err != nil {
					mu.Lock()
					bad = append(bad, err.Error())
					mu.Unlock()
					return
				}
				body := readAll(t, resp)
				mu.Lock()
				switch {
				case resp.StatusCode == http.StatusOK:
					ok++
					last = time.Now()
				case resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "1" &&
					strings.Contains(body, `"code":"rate_limited"`):
					limited++
				default:
					bad = append(bad, resp.Status+" Retry-After "+resp.Header.Get("Retry-After")+" "+body)
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("answers other than 200 or 429 with Retry-After 1 and code rate_limited: %q", bad[:min(3, len(bad))])
	}
	if limited == 0 {
		t.Fatalf("no request was limited (%d admitted in %s); the client was too slow to test the limit", ok, last.Sub(start))
	}
	want := 2*perSecond + perSecond*last.Sub(start).Seconds()
	if float64(ok) < 0.95*want-1 || float64(ok) > 1.05*want+1 {
		t.Errorf("admitted %d, want %.0f ± 5%% (burst %d + %v/s over %s)", ok, want, int(2*perSecond), perSecond, last.Sub(start))
	}
	if status, _, b := statusOf(t, e, bob, "GET", "/api/v1/users/me", ""); status != http.StatusOK {
		t.Errorf("another user: status %d (%s), want 200", status, b)
	}
	if status, _, b := statusOf(t, e, alice, "PATCH", "/api/v1/users/me", `{"displayName":"x"}`); status != http.StatusOK {
		t.Errorf("the limited user's write: status %d (%s), want 200 (its own class)", status, b)
	}
}

// TestAuthRateLimitPerIP checks the per-address limit of the auth class:
// the burst passes, the next login from the same address gets 429, and
// another address (through a trusted proxy) is counted apart.
func TestAuthRateLimitPerIP(t *testing.T) {
	e := newEnv(t, envOptions{edge: httpapi.Edge{RateAuthIP: 0.5}, trustedProxies: []string{"127.0.0.1"}}) // burst 1
	login := func(ip string) (int, string) {
		resp := e.do(nil, "POST", "/api/v1/auth/login", `{"login":"alice","password":"correct horse"}`,
			map[string]string{"X-Forwarded-For": ip})
		readAll(t, resp)
		return resp.StatusCode, resp.Header.Get("Retry-After")
	}
	if status, _ := login("198.51.100.7"); status != http.StatusOK {
		t.Fatalf("first login: status %d, want 200", status)
	}
	status, retryAfter := login("198.51.100.7")
	if status != http.StatusTooManyRequests {
		t.Fatalf("second login from the address: status %d, want 429", status)
	}
	if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 || n > 2 {
		t.Errorf("Retry-After %q, want 1 or 2 seconds (one token at 0.5/s)", retryAfter)
	}
	if status, _ := login("198.51.100.8"); status != http.StatusOK {
		t.Errorf("login from another address: status %d, want 200", status)
	}
}

// TestServerTiming checks every proxied response says how long the
// service took, whether it answered or failed, and never passes on the
// service's own Server-Timing.
func TestServerTiming(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.login(nil)
	e.users.setHandler(func(c *gin.Context) {
		c.Header("Server-Timing", "db;dur=3.2")
		if c.Request.Method == "PATCH" {
			c.Status(http.StatusInternalServerError)
			return
		}
		c.JSON(http.StatusOK, gin.H{"ok": true})
	})
	pattern := regexp.MustCompile(`^upstream;dur=\d+\.\d$`)
	for _, method := range []string{"GET", "PATCH"} {
		resp := e.do(c, method, "/api/v1/users/me", `{}`, nil)
		readAll(t, resp)
		if got := resp.Header.Values("Server-Timing"); len(got) != 1 || !pattern.MatchString(got[0]) {
			t.Errorf("%s (status %d): Server-Timing %q, want one upstream;dur=<ms>", method, resp.StatusCode, got)
		}
	}
}

// syncBuffer is a log sink written by the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// linesWith counts the log lines containing sub.
func (s *syncBuffer) linesWith(sub string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		if strings.Contains(sc.Text(), sub) {
			n++
		}
	}
	return n
}

// TestOneLogRecordPerRequest checks a proxied request is logged once, with
// what an operator needs to find it.
func TestOneLogRecordPerRequest(t *testing.T) {
	logs := &syncBuffer{}
	e := newEnv(t, envOptions{log: logs})
	c, _ := e.login(nil)
	traceOf := func() string {
		resp := e.do(c, "GET", "/api/v1/users/me", "", nil)
		readAll(t, resp)
		return resp.Header.Get("X-Trace-Id")
	}
	first, second := traceOf(), traceOf()
	// The record is written after the answer; once the second request's
	// is there, the first's are too.
	deadline := time.Now().Add(5 * time.Second)
	for logs.linesWith(second) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no log record for the request")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if n := logs.linesWith(first); n != 1 {
		t.Fatalf("%d log records for one request, want 1:\n%s", n, logs.b.String())
	}
	for _, field := range []string{`"http.response.status_code":200`, `"url.route":"/api/v1/users/me"`, `"user.id":`, `"event.duration":`, `"client.ip":`} {
		if logs.linesWith(field) < 2 {
			t.Errorf("request record without %s", field)
		}
	}
}

// TestIdleConnectionsClosedByServiceAreNotFailures: a service that closes
// the gateway's kept-alive connections while they are idle (it restarted,
// or timed them out) costs no request anything, a POST included: the
// gateway finds each closed connection before writing to it and sends the
// request on a live one, once.
//
// Each round idles longer than the route's timeout (the deadline the last
// request left on its connection has passed), and every other round the
// service leaves its connections open: those are used, not discarded.
func TestIdleConnectionsClosedByServiceAreNotFailures(t *testing.T) {
	const timeout = time.Second // long enough for any POST of a loaded -race run
	e := newEnv(t, envOptions{edge: httpapi.Edge{WriteTimeout: timeout}})
	c, _ := e.login(nil)
	e.chat.setHandler(func(c *gin.Context) {
		time.Sleep(20 * time.Millisecond) // keeps the warm-up requests on separate connections
		c.JSON(http.StatusCreated, gin.H{"ok": true})
	})
	post := func() (int, string) {
		resp := e.do(c, "POST", "/api/v1/conversations/c-1/messages", `{"body":"x"}`, nil)
		return resp.StatusCode, readAll(t, resp)
	}
	// Several connections kept alive at once, then all closed by the
	// service while idle.
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			if status, b := post(); status != http.StatusCreated {
				t.Errorf("warm-up: status %d (%s)", status, b)
			}
		})
	}
	wg.Wait()
	for round := range 6 {
		closed := round%2 == 0
		before := len(e.chat.requests())
		if closed {
			e.chat.srv.CloseClientConnections()
		}
		time.Sleep(timeout + 100*time.Millisecond)
		if status, b := post(); status != http.StatusCreated {
			t.Fatalf("round %d (connections closed: %v): POST after idling: status %d (%s), want 201", round, closed, status, b)
		}
		if n := len(e.chat.requests()) - before; n != 1 {
			t.Fatalf("round %d: the service saw the POST %d times, want once", round, n)
		}
	}
	// Connections left open were used: warm-up and rounds took at most
	// the four warm-up connections and one per round that closed them.
	if n := e.chat.connections.Load(); n > 4+3 {
		t.Errorf("the service accepted %d connections, want at most 7 (idle ones were discarded)", n)
	}
}

// TestPerConnectionHeadersAreNotForwarded: hop-by-hop headers, and those a
// Connection header names, stay on their hop in both directions; every
// other header passes.
func TestPerConnectionHeadersAreNotForwarded(t *testing.T) {
	e := newEnv(t, envOptions{})
	c, _ := e.login(nil)
	e.users.setHandler(func(c *gin.Context) {
		c.Header("Connection", "X-Hop-Answer")
		c.Header("X-Hop-Answer", "1")
		c.Header("Keep-Alive", "timeout=5")
		c.Header("X-End-Answer", "1")
		c.Header("Set-Cookie", "planted=1")
		c.JSON(http.StatusOK, gin.H{"ok": true})
	})
	resp := e.do(c, "GET", "/api/v1/users/me?x=%2F1", "", map[string]string{
		"Connection": "X-Hop-Request", "X-Hop-Request": "1", "Te": "trailers", "X-End-Request": "1",
	})
	if b := readAll(t, resp); resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d (%s)", resp.StatusCode, b)
	}
	reqs := e.users.requests()
	got := reqs[len(reqs)-1]
	for _, h := range []string{"X-Hop-Request", "Te"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("request header %s reached the service: %q", h, v)
		}
	}
	if got.Header.Get("X-End-Request") != "1" || got.RawQuery != "x=%2F1" {
		t.Errorf("service saw X-End-Request %q and query %q, want 1 and x=%%2F1", got.Header.Get("X-End-Request"), got.RawQuery)
	}
	for _, h := range []string{"X-Hop-Answer", "Keep-Alive", "Set-Cookie"} {
		if v := resp.Header.Get(h); v != "" {
			t.Errorf("response header %s reached the client: %q", h, v)
		}
	}
	if resp.Header.Get("X-End-Answer") != "1" {
		t.Errorf("X-End-Answer = %q, want 1", resp.Header.Get("X-End-Answer"))
	}
}
