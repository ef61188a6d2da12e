//go:build compat

package compat

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/chaos"
	"github.com/parleychat/parley/e2e/harness"
)

// TestRollingUpgrade: a stack of the previous release of every service (2
// gateways, 2 chat-services, 2 user-services, 2 auth-services) carries steady chat traffic from socket clients that follow
// the documented client algorithm and a steady REST reader and writer that
// retries only what the documented rules allow (429 or 503 with
// Retry-After after the hint; a refused connection on the other gateway).
// Each instance in turn is stopped with SIGTERM and started again on the
// same address with the current build. At the end no request failed in a
// way such a client would not retry, every acknowledged message is stored
// exactly once and reached every member once (the chaos invariants), and
// the figures per replaced instance are printed.
//
// The gateways go first: the previous gateway takes one USERS_URL and one
// AUTH_URL, so its gateway i reaches user-service i and auth-service i
// only; the current gateways are given every instance of both (round-robin
// with ejection), so stopping one afterwards costs no REST request.
func TestRollingUpgrade(t *testing.T) {
	dir := t.TempDir()
	current := buildCurrent(t, dir)
	previous, versions := buildAllPrevious(t, dir)
	for _, s := range harness.Services {
		t.Setenv(harness.BinaryEnv(s), previous[s])
	}
	st := harness.Start(t, harness.Options{Gateways: 2, Chats: 2, UserServices: 2, AuthServices: 2, LinkAllChats: true})
	for _, p := range st.All() {
		if err := runs(p, previous[serviceName(p)]); err != nil {
			t.Fatalf("the stack does not start from the previous release: %v", err)
		}
	}
	w := chaos.New(t, st, chaos.Config{Conversations: 30, Rate: 40, Seed: chaos.Seed(t)})
	rest := startREST(t, st, 8, 40)
	w.Start()

	order := append(append(append([]*harness.Process{}, st.Gateways...), st.UserServices...), st.Chats...)
	order = append(order, st.AuthServices...)
	type step struct {
		p             *harness.Process
		f             *chaos.Fault
		exited, ready time.Duration
		code          int
		before, after string
	}
	var steps []*step
	pace := func() { time.Sleep(5 * time.Second) } // traffic between replacements, not a wait for a condition
	pace()
	for _, p := range order {
		svc := serviceName(p)
		sp := &step{p: p, before: healthVersion(p)}
		steps = append(steps, sp)
		sp.f = w.Fault("upgrade " + p.Name)
		rest.mark(p.Name)
		took, err := p.Terminate(30 * time.Second)
		sp.exited, sp.code = took, p.ExitCode()
		sp.f.Stopping = took
		if err != nil {
			t.Fatalf("SIGTERM %s: %v", p.Name, err)
		}
		if sp.code != 0 {
			t.Errorf("%s (previous release) exited with status %d after SIGTERM; output:\n%s", p.Name, sp.code, p.Output())
		}
		var env []string
		if svc == "gateway" {
			env = append(env, "USERS_URL="+instancesFor(st, p, st.UserServices), "AUTH_URL="+instancesFor(st, p, st.AuthServices))
		}
		p.Replace(current[svc], env...)
		start := time.Now()
		if err := p.StartWithin(90 * time.Second); err != nil {
			t.Fatalf("start the current %s: %v", p.Name, err)
		}
		sp.ready = time.Since(start)
		sp.f.Back = time.Now()
		if err := runs(p, current[svc]); err != nil {
			t.Fatal(err)
		}
		sp.after = healthVersion(p)
		pace()
	}
	rest.stop()
	w.Finish(2 * time.Minute)

	// Only refusals a client retries by the documented rules, on the
	// sockets and over REST. One more, because every instance stopped here
	// runs the previous release: its SIGTERM may drop the ack of a send in
	// flight (the gateway's drain came after 0.1.0; a chat-service closing
	// its link with a command in flight makes the gateway answer 503
	// link_unavailable) while the send is stored. The client resends it
	// with the same clientMsgId, as the rules say for an unacknowledged or
	// retryably refused send, and gets the stored message (created false);
	// Finish holds it to exactly once. They are counted and printed; the
	// current build's drain is held to no lost ack by chaos's
	// TestSigtermDrains.
	lostAcks := map[string]int{}
	for _, sp := range steps {
		for what, n := range w.FailureCounts(sp.f) {
			switch {
			case chaos.GracefulRefusal(what):
			case what == "message:send:ack_lost" || what == "message:send:link_ack_lost":
				lostAcks[sp.p.Name+" "+what] += n
			default:
				t.Errorf("upgrade %s: %d× %s: a failure the client would not retry", sp.p.Name, n, what)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "rolling upgrade figures (previous release → current build, one instance at a time):\n")
	for _, s := range harness.Services {
		fmt.Fprintf(&b, "  previous %s = %s at %.12s\n", s, versions[s].Version, versions[s].Commit)
	}
	for i, sp := range steps {
		r := rest.steps[i]
		fmt.Fprintf(&b, "  %-15s /healthz %s → %s; exit %d %s after SIGTERM; current build ready %s after start; socket refusals %s; REST %s\n",
			sp.p.Name, sp.before, sp.after, sp.code, sp.exited.Round(time.Millisecond), sp.ready.Round(10*time.Millisecond),
			chaos.Tally(w.FailureCounts(sp.f)), r)
	}
	total := rest.total()
	fmt.Fprintf(&b, "  REST in all: %s\n", total)
	fmt.Fprintf(&b, "  sends stored whose ack the stopping previous release lost (resent with the same clientMsgId, created false): %s\n", chaos.Tally(lostAcks))
	t.Log(b.String())
	if total.failed > 0 {
		t.Errorf("%d REST requests failed in a way a client would not retry: %v", total.failed, rest.failures())
	}
	for i, sp := range steps {
		if rest.steps[i].ok == 0 {
			t.Errorf("no REST request succeeded while %s was replaced", sp.p.Name)
		}
	}
}

// serviceName is the service an instance runs.
func serviceName(p *harness.Process) string {
	for _, s := range harness.Services {
		if strings.HasPrefix(p.Name, s) {
			return s
		}
	}
	return p.Name
}

// runs checks that the running process of p executes bin.
func runs(p *harness.Process, bin string) error {
	want, err := filepath.EvalSymlinks(bin)
	if err != nil {
		return err
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", p.Pid()))
	if err != nil {
		return err
	}
	if exe != want {
		return fmt.Errorf("%s runs %s, want %s", p.Name, exe, want)
	}
	return nil
}

// healthVersion is the version an instance's /healthz reports.
func healthVersion(p *harness.Process) string {
	res, err := http.Get(p.URL() + "/healthz")
	if err != nil {
		return "?"
	}
	defer res.Body.Close()
	var h struct{ Version string }
	if json.NewDecoder(res.Body).Decode(&h) != nil {
		return "?"
	}
	return h.Version
}

// instancesFor lists every instance of a service for gateway p, the one
// it was given first.
func instancesFor(st *harness.Stack, p *harness.Process, all []*harness.Process) string {
	i := 0
	for j, g := range st.Gateways {
		if g == p {
			i = j
		}
	}
	var urls []string
	for j := range all {
		urls = append(urls, all[(i+j)%len(all)].URL())
	}
	return strings.Join(urls, ",")
}

// restTally counts REST outcomes: ok, retried after a refusal the rules
// allow (by kind), failed.
type restTally struct {
	ok, failed int
	retried    map[string]int
}

func (r restTally) String() string {
	return fmt.Sprintf("%d ok, %d failed, retried: %s", r.ok, r.failed, chaos.Tally(r.retried))
}

// restLoad is the steady REST reader and writer.
type restLoad struct {
	done chan struct{}
	wg   sync.WaitGroup

	mu    sync.Mutex
	steps []restTally // per replaced instance; before the first: index -1
	pre   restTally
	fails []string
}

// startREST signs users up and has each read its profile and
// conversations and write its display name, perSecond requests in all.
func startREST(t *testing.T, st *harness.Stack, users int, perSecond float64) *restLoad {
	l := &restLoad{done: make(chan struct{}), pre: restTally{retried: map[string]int{}}}
	var clients []*harness.Client
	for i := range users {
		clients = append(clients, harness.NewClient(t, st.Gateways[i%len(st.Gateways)].URL()).SignUp())
	}
	every := time.Duration(float64(time.Second) * float64(users) / perSecond)
	for i, c := range clients {
		l.wg.Go(func() {
			tick := time.NewTicker(every)
			defer tick.Stop()
			for n := 0; ; n++ {
				select {
				case <-l.done:
					return
				case <-tick.C:
				}
				method, path, body := http.MethodGet, "/api/v1/users/me", any(nil)
				switch n % 3 {
				case 1:
					path = "/api/v1/conversations?limit=10"
				case 2:
					method, body = http.MethodPatch, map[string]any{"displayName": fmt.Sprintf("rolling %d-%d", i, n)}
				}
				l.request(st, c, i+n, method, path, body)
			}
		})
	}
	t.Cleanup(l.stop)
	return l
}

// request sends one request as a client following the documented rules:
// after 429 or 503 with Retry-After it tries again once the hint has
// passed; a refused connection (nothing was sent) goes to the next
// gateway, and so does a GET whose connection was reset before an answer;
// anything else that is not a success is a failure. (The World's own REST
// reads are off: this loop is the stack's REST traffic.)
func (l *restLoad) request(st *harness.Stack, c *harness.Client, gw int, method, path string, body any) {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		cc := *c
		cc.Base = st.Gateways[gw%len(st.Gateways)].URL()
		r, err := cc.DoErr(method, path, body)
		switch {
		case err == nil && r.Status < 300:
			l.record(func(t *restTally) { t.ok++ }, "")
			return
		case errors.Is(err, syscall.ECONNREFUSED):
			l.record(func(t *restTally) { t.retried["refused"]++ }, "")
			gw++
			continue
		case method == http.MethodGet && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)):
			// A GET is idempotent (RFC 9110 §9.2.2): a connection the
			// stopping gateway reset before answering is sent again, to
			// the next gateway, as any HTTP client does. A PATCH is not.
			l.record(func(t *restTally) { t.retried["GET reset"]++ }, "")
			gw++
			continue
		case err == nil && (r.Status == http.StatusServiceUnavailable || r.Status == http.StatusTooManyRequests):
			secs, perr := strconv.Atoi(r.Header.Get("Retry-After"))
			if perr != nil || secs < 0 {
				break
			}
			l.record(func(t *restTally) { t.retried[strconv.Itoa(r.Status)]++ }, "")
			select {
			case <-l.done:
				return
			case <-time.After(time.Duration(secs) * time.Second):
			}
			continue
		}
		what := fmt.Sprint(err)
		if err == nil {
			what = fmt.Sprintf("%d %s", r.Status, r.Body)
		}
		l.record(func(t *restTally) { t.failed++ }, fmt.Sprintf("%s %s on %s: %s", method, path, cc.Base, what))
		return
	}
	l.record(func(t *restTally) { t.failed++ }, fmt.Sprintf("%s %s: still refused after 60 s", method, path))
}

func (l *restLoad) record(f func(*restTally), failure string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	t := &l.pre
	if n := len(l.steps); n > 0 {
		t = &l.steps[n-1]
	}
	f(t)
	if failure != "" {
		l.fails = append(l.fails, failure)
	}
}

// mark starts counting against the next replaced instance.
func (l *restLoad) mark(string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.steps = append(l.steps, restTally{retried: map[string]int{}})
}

func (l *restLoad) stop() {
	select {
	case <-l.done:
	default:
		close(l.done)
	}
	l.wg.Wait()
}

func (l *restLoad) total() restTally {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := restTally{retried: map[string]int{}}
	for _, t := range append([]restTally{l.pre}, l.steps...) {
		out.ok += t.ok
		out.failed += t.failed
		for k, v := range t.retried {
			out.retried[k] += v
		}
	}
	return out
}

func (l *restLoad) failures() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.fails[:min(len(l.fails), 10)]...)
}
