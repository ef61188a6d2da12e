// Package chaos drives steady chat traffic from real Socket.IO clients
// against a real stack while faults hit it, and checks at the end that
// nothing acknowledged was lost or doubled: the chaos test, the SIGTERM
// drain test, the soak, and the fault tests that kill the broker share it.
package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// Config shapes the traffic.
type Config struct {
	// Conversations is the number of conversations, one user each plus
	// the next user's (every conversation has 2 members, every user is in
	// 2 conversations); every third one also has a third member.
	Conversations int
	// Rate is the messages per second over all conversations.
	Rate float64
	// RESTRate is REST reads per second (profiles and conversation lists).
	RESTRate float64
	// Seed drives every random choice; 0 takes one from the clock.
	Seed uint64
	// AckTimeout is how long a client waits for a command's ack before
	// sending it again. Default 15s.
	AckTimeout time.Duration
}

// Conv is one conversation of the run.
type Conv struct {
	ID      string
	Members []*User
}

// World is a stack with its users, their traffic and the faults injected.
type World struct {
	t testing.TB
	// tb is t without Cleanup: each client closes its own sockets when it
	// stops, before the stack goes (a socket closed by the test's cleanup
	// while its client still runs would only be dialled again).
	tb  testing.TB
	s   *harness.Stack
	cfg Config

	rngMu sync.Mutex
	rng   *rand.Rand

	Users []*User
	Convs []*Conv

	stop    chan struct{}
	genStop chan struct{}
	wg      sync.WaitGroup
	gen     sync.WaitGroup
	began   time.Time

	mu   sync.Mutex
	acks []acked
	// latencies are the send-to-ack times of acknowledged sends (the
	// attempt that got the ack).
	latencies []time.Duration
	faults    []*Fault
	baseline  *Fault // failures before the first fault
	skipped   int

	reconnects, syncs, offered, restOK atomic.Int64
}

// Fault is one injected fault and what clients saw after it.
type Fault struct {
	What      string
	At        time.Time
	Back      time.Time     // restarted and ready (zero: not restarted)
	Stopping  time.Duration // SIGTERM: how long the process took to exit
	Failures  map[string]int
	Resent    int
	Recovered time.Time // end of the last failure episode it started
}

// Seed returns the run's seed: CHAOS_SEED when set, else one from the clock.
func Seed(t testing.TB) uint64 {
	if v := os.Getenv("CHAOS_SEED"); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatalf("CHAOS_SEED=%q: %v", v, err)
		}
		return n
	}
	return uint64(time.Now().UnixNano())
}

// EnvDuration reads a duration from the environment, or def.
func EnvDuration(t testing.TB, name string, def time.Duration) time.Duration {
	if v := os.Getenv(name); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			t.Fatalf("%s=%q: want a positive duration", name, v)
		}
		return d
	}
	return def
}

// EnvFloat reads a positive number from the environment, or def.
func EnvFloat(t testing.TB, name string, def float64) float64 {
	if v := os.Getenv(name); v != "" {
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || f <= 0 {
			t.Fatalf("%s=%q: want a positive number", name, v)
		}
		return f
	}
	return def
}

// New signs users up on stack s, opens the conversations, connects every
// user and starts their client loops (no traffic yet: see Run).
func New(t testing.TB, s *harness.Stack, cfg Config) *World {
	t.Helper()
	if cfg.Seed == 0 {
		cfg.Seed = uint64(time.Now().UnixNano())
	}
	if cfg.AckTimeout == 0 {
		cfg.AckTimeout = 15 * time.Second
	}
	if cfg.Conversations < 2 {
		t.Fatalf("chaos: at least 2 conversations")
	}
	t.Logf("chaos: seed %d (CHAOS_SEED=%d repeats the choices)", cfg.Seed, cfg.Seed)
	setup := time.Now()
	defer func() {
		t.Logf("chaos: %d users signed up, in their conversations and connected in %s", cfg.Conversations, time.Since(setup).Round(100*time.Millisecond))
	}()
	w := &World{t: t, tb: noCleanup{t}, s: s, cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
		stop: make(chan struct{}), genStop: make(chan struct{}), baseline: &Fault{What: "before any fault", Failures: map[string]int{}}}
	n := cfg.Conversations
	w.Users = make([]*User, n)
	parallel(n, 8, func(i int) {
		c := harness.NewClient(t, s.Gateways[i%len(s.Gateways)].URL()).SignUp()
		w.Users[i] = newUser(w, i, c)
	})
	w.Convs = make([]*Conv, n)
	parallel(n, 8, func(i int) {
		members := []*User{w.Users[i], w.Users[(i+1)%n]}
		if i%3 == 0 && n > 2 {
			members = append(members, w.Users[(i+n/2)%n])
		}
		var ids []string
		for _, m := range members[1:] {
			ids = append(ids, m.ID)
		}
		conv := members[0].C.CreateGroup(fmt.Sprintf("chaos %d", i), ids...)
		w.Convs[i] = &Conv{ID: conv.ID, Members: members}
	})
	// Every member starts from the conversation as created (as a client
	// that listed its conversations), so sync asks only for what follows.
	for _, c := range w.Convs {
		for _, m := range c.Members {
			m.convs = append(m.convs, c)
		}
	}
	parallel(n, 8, func(i int) {
		u := w.Users[i]
		for _, c := range u.convs {
			u.cursor[c.ID] = u.C.Conversation(c.ID).LastEventSeq
		}
	})
	for _, u := range w.Users {
		w.wg.Go(func() { u.run(w.stop) })
	}
	harness.Eventually(t, 60*time.Second, "every user connected", func() error {
		for _, u := range w.Users {
			if !u.connected() {
				return fmt.Errorf("user %d not connected yet", u.idx)
			}
		}
		return nil
	})
	t.Cleanup(w.halt)
	return w
}

// noCleanup is a testing.TB whose Cleanup does nothing.
type noCleanup struct{ testing.TB }

func (noCleanup) Cleanup(func()) {}

// connected reports whether the user's first connection and sync are done.
func (u *User) connected() bool { return u.up.Load() }

// parallel runs f(0..n-1) on up to k goroutines.
func parallel(n, k int, f func(int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range k {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// Intn is a seeded random number in [0, n).
func (w *World) Intn(n int) int {
	w.rngMu.Lock()
	defer w.rngMu.Unlock()
	return w.rng.IntN(n)
}

// Start begins the traffic: Rate messages a second from random members of
// random conversations, and RESTRate REST reads.
func (w *World) Start() {
	w.began = time.Now()
	w.mu.Lock()
	w.baseline.At = w.began
	w.mu.Unlock()
	w.gen.Go(w.generate)
	if w.cfg.RESTRate > 0 {
		w.gen.Go(w.rest)
	}
}

func (w *World) generate() {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var issued int64
	for {
		select {
		case <-w.genStop:
			return
		case <-tick.C:
		}
		due := int64(time.Since(w.began).Seconds() * w.cfg.Rate)
		for ; issued < due; issued++ {
			c := w.Convs[w.Intn(len(w.Convs))]
			u := c.Members[w.Intn(len(c.Members))]
			if u.enqueue(c) {
				w.offered.Add(1)
			} else {
				w.mu.Lock()
				w.skipped++
				w.mu.Unlock()
			}
		}
	}
}

// rest reads over REST like a chat UI does besides its socket: a profile
// or the conversation list, on any gateway, the next one after a failure.
func (w *World) rest() {
	tick := time.NewTicker(time.Duration(float64(time.Second) / w.cfg.RESTRate))
	defer tick.Stop()
	for {
		select {
		case <-w.genStop:
			return
		case <-tick.C:
		}
		u := w.Users[w.Intn(len(w.Users))]
		path := "/api/v1/conversations?limit=10"
		if w.Intn(2) == 0 {
			path = "/api/v1/users/" + w.Users[w.Intn(len(w.Users))].ID
		}
		gw := w.Intn(len(w.s.Gateways))
		for attempt := 0; attempt < 20; attempt++ {
			c := *u.C
			c.Base = w.s.Gateways[(gw+attempt)%len(w.s.Gateways)].URL()
			r, err := c.DoErr(http.MethodGet, path, nil)
			if err == nil && r.Status == http.StatusOK {
				w.restOK.Add(1)
				break
			}
			what := "rest:transport"
			if errors.Is(err, syscall.ECONNREFUSED) {
				what = "rest:refused" // nothing was sent: the instance is not listening
			}
			if err == nil {
				what = fmt.Sprintf("rest:%d", r.Status)
				if r.Status == http.StatusUnauthorized {
					u.refresh()
				}
			}
			w.failure(what)
			if !pause(w.genStop, 100*time.Millisecond) {
				return
			}
		}
	}
}

// Fault records a fault starting now; failures from now on are counted
// against it.
func (w *World) Fault(what string) *Fault {
	f := &Fault{What: what, At: time.Now(), Failures: map[string]int{}}
	w.mu.Lock()
	w.faults = append(w.faults, f)
	w.mu.Unlock()
	w.t.Logf("chaos: %s at +%s", what, time.Since(w.began).Round(time.Millisecond))
	return f
}

// current is the fault under way (the last one), or the baseline; w.mu held.
func (w *World) current() (*Fault, int) {
	if len(w.faults) == 0 {
		return w.baseline, -1
	}
	return w.faults[len(w.faults)-1], len(w.faults) - 1
}

func (w *World) failure(what string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, i := w.current()
	f.Failures[what]++
	return i
}

func (w *World) resent(*User) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f, _ := w.current()
	f.Resent++
}

func (w *World) recoveredFrom(i int, at time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := w.baseline
	if i >= 0 {
		f = w.faults[i]
	}
	if at.After(f.Recovered) {
		f.Recovered = at
	}
}

func (w *World) ack(a acked) {
	w.mu.Lock()
	w.acks = append(w.acks, a)
	w.mu.Unlock()
}

func (w *World) count(n *atomic.Int64) { n.Add(1) }

func (w *World) ackLatency(d time.Duration) {
	w.mu.Lock()
	w.latencies = append(w.latencies, d)
	w.mu.Unlock()
}

// percentile is the p-th percentile of ds (sorted in place).
func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[(len(ds)-1)*p/100]
}

// Kill SIGKILLs p and starts it again after down, as one fault.
func (w *World) Kill(p *harness.Process, down time.Duration) *Fault {
	f := w.Fault("SIGKILL " + p.Name)
	if err := p.KillNow(); err != nil {
		w.t.Errorf("kill %s: %v", p.Name, err)
	}
	w.restart(f, p, down)
	return f
}

// Terminate SIGTERMs p (a graceful stop) and starts it again after down.
func (w *World) Terminate(p *harness.Process, down time.Duration) *Fault {
	f := w.Fault("SIGTERM " + p.Name)
	took, err := p.Terminate(30 * time.Second)
	f.Stopping = took
	if err != nil {
		w.t.Errorf("SIGTERM %s: %v", p.Name, err)
	} else if code := p.ExitCode(); code != 0 {
		w.t.Errorf("%s exited with status %d after SIGTERM; output:\n%s", p.Name, code, p.Output())
	}
	w.restart(f, p, down)
	return f
}

func (w *World) restart(f *Fault, p *harness.Process, down time.Duration) {
	pause(w.stop, down)
	if err := p.StartWithin(90 * time.Second); err != nil {
		w.t.Errorf("restart %s: %v", p.Name, err)
		return
	}
	f.Back = time.Now()
}

// Began is when the traffic started.
func (w *World) Began() time.Time { return w.began }

// Elapsed is the time since the traffic started.
func (w *World) Elapsed() time.Duration { return time.Since(w.began) }

// Stack is the world's stack.
func (w *World) Stack() *harness.Stack { return w.s }
