// Package chaos drives steady chat traffic from real Socket.IO clients
// against a real stack while faults hit it, and checks at the end that
// nothing acknowledged was lost or doubled: the chaos test, the SIGTERM
// drain test, the soak, and the fault tests that kill the broker share it.
package chaos

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

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

// Finish stops the traffic, waits until every client has settled its
// sends (within drain), then checks the invariants and prints the figures.
// It returns the messages stored.
func (w *World) Finish(drain time.Duration) int {
	w.t.Helper()
	close(w.genStop)
	w.gen.Wait()
	ran := time.Since(w.began)
	for _, u := range w.Users {
		close(u.sends)
	}
	deadline := time.After(drain)
	for _, u := range w.Users {
		select {
		case <-u.drained:
		case <-deadline:
		}
	}
	var hung []string
	for _, u := range w.Users {
		select {
		case <-u.drained:
		default:
			hung = append(hung, fmt.Sprintf("user %d (%d sends pending)", u.idx, u.Pending()))
		}
	}
	if len(hung) > 0 {
		w.t.Errorf("hung clients: %d did not settle their sends within %s: %s", len(hung), drain, strings.Join(hung[:min(len(hung), 10)], ", "))
	}
	stored := w.check()
	w.figures(ran, stored)
	return stored
}

// halt stops every client loop.
func (w *World) halt() {
	select {
	case <-w.stop:
		return
	default:
	}
	select {
	case <-w.genStop:
	default:
		close(w.genStop)
	}
	w.gen.Wait()
	close(w.stop)
	w.wg.Wait()
}

type row struct {
	id, sender, clientMsgID string
	seq                     int64
}

// store reads every message of the run's conversations.
func (w *World) store() map[string][]row {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, w.s.DBURL["chat-service"])
	if err != nil {
		w.t.Fatalf("chat-service database: %v", err)
	}
	defer conn.Close(ctx)
	ids := make([]string, len(w.Convs))
	for i, c := range w.Convs {
		ids[i] = c.ID
	}
	rows, err := conn.Query(ctx, `SELECT conversation_id::text, id::text, sender_id::text, client_msg_id, seq
		FROM messages WHERE conversation_id = ANY($1::uuid[]) ORDER BY conversation_id, seq`, ids)
	if err != nil {
		w.t.Fatalf("read messages: %v", err)
	}
	out := map[string][]row{}
	for rows.Next() {
		var conv string
		var r row
		if err := rows.Scan(&conv, &r.id, &r.sender, &r.clientMsgID, &r.seq); err != nil {
			w.t.Fatalf("read messages: %v", err)
		}
		out[conv] = append(out[conv], r)
	}
	if err := rows.Err(); err != nil {
		w.t.Fatalf("read messages: %v", err)
	}
	return out
}

// check verifies the invariants: every acked message stored exactly once,
// the store gap-free, every member's view equal to the store (waiting for
// deliveries still on their way), no event delivered twice on a socket.
func (w *World) check() int {
	w.t.Helper()
	st := w.store()
	stored := 0
	byKey := map[string]row{}
	for conv, rs := range st {
		for i, r := range rs {
			stored++
			if r.seq != int64(i+1) {
				w.t.Errorf("conversation %s: message %d has seq %d, want %d (gap or duplicate seq)", conv, i, r.seq, i+1)
				break
			}
			k := r.sender + "/" + r.clientMsgID
			if _, dup := byKey[k]; dup {
				w.t.Errorf("clientMsgId %s stored twice", k)
			}
			byKey[k] = r
		}
	}
	w.mu.Lock()
	acks := append([]acked(nil), w.acks...)
	w.mu.Unlock()
	seen := map[string]bool{}
	for _, a := range acks {
		k := a.sender + "/" + a.clientMsgID
		if seen[k] {
			w.t.Errorf("send %s acknowledged twice", k)
		}
		seen[k] = true
		r, ok := byKey[k]
		switch {
		case !ok:
			w.t.Errorf("acked message %s (id %s) is not stored", k, a.id)
		case r.id != a.id || r.seq != a.seq:
			w.t.Errorf("acked message %s: ack says %s#%d, store %s#%d", k, a.id, a.seq, r.id, r.seq)
		}
	}
	if len(seen) != stored {
		w.t.Errorf("%d messages stored, %d acknowledged: a stored message no client had acknowledged", stored, len(seen))
	}
	// Every member's view must become the store: deliveries may still be
	// on their way (a relay catching up after a fault).
	var lastErr error
	deadline := time.Now().Add(90 * time.Second)
	for {
		lastErr = w.compareViews(st)
		if lastErr == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lastErr != nil {
		w.t.Errorf("views differ from the store 90 s after the traffic ended: %v", lastErr)
	}
	var dup, ooo, clashes int
	var refused []string
	for _, u := range w.Users {
		u.mu.Lock()
		dup += u.dupLive
		ooo += u.outOfOrder
		clashes += u.clashes
		refused = append(refused, u.refused...)
		u.mu.Unlock()
	}
	if dup != 0 {
		w.t.Errorf("%d events delivered twice on one socket", dup)
	}
	if clashes != 0 {
		w.t.Errorf("%d messages received with two different seqs", clashes)
	}
	if ooo != 0 {
		w.t.Errorf("%d events received live after a later event of their conversation on the same socket", ooo)
	}
	if len(refused) > 0 {
		w.t.Errorf("%d commands refused for good, e.g. %s", len(refused), refused[0])
	}
	return stored
}

// compareViews returns an error naming the first members whose view is not
// the store's messages of their conversations.
func (w *World) compareViews(st map[string][]row) error {
	var diffs []string
	missing := 0
	for _, c := range w.Convs {
		want := st[c.ID]
		for _, m := range c.Members {
			m.mu.Lock()
			v := m.view[c.ID]
			miss := 0
			for _, r := range want {
				if s, ok := v[r.id]; !ok || s != r.seq {
					miss++
				}
			}
			extra := len(v) - (len(want) - miss)
			m.mu.Unlock()
			if miss > 0 || extra > 0 {
				missing += miss
				diffs = append(diffs, fmt.Sprintf("user %d in %s: %d missing, %d not stored", m.idx, c.ID, miss, extra))
			}
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	sort.Strings(diffs)
	return fmt.Errorf("%d members, %d messages missing in all: %s", len(diffs), missing, strings.Join(diffs[:min(len(diffs), 8)], "; "))
}

// figures prints what the run did, per fault.
func (w *World) figures(ran time.Duration, stored int) {
	var live, fromSync, syncReq, dup int
	for _, u := range w.Users {
		u.mu.Lock()
		live += u.live
		fromSync += u.fromSync
		syncReq += u.syncRequired
		dup += u.dupLive
		u.mu.Unlock()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Logf("figures: %d users, %d conversations, %d gateways, %d chat-services, %d user-services; seed %d",
		len(w.Users), len(w.Convs), len(w.s.Gateways), len(w.s.Chats), len(w.s.UserServices), w.cfg.Seed)
	w.t.Logf("figures: %s of traffic at %.0f msg/s offered: %d sends, %d acknowledged and stored (%.0f msg/s), %d not offered (client backlog full); %d REST reads ok",
		ran.Round(time.Second), w.cfg.Rate, w.offered.Load(), stored, float64(stored)/ran.Seconds(), w.skipped, w.restOK.Load())
	w.t.Logf("figures: send-to-ack p50 %s, p99 %s, max %s", percentile(w.latencies, 50).Round(100*time.Microsecond),
		percentile(w.latencies, 99).Round(100*time.Microsecond), percentile(w.latencies, 100).Round(100*time.Microsecond))
	w.t.Logf("figures: deliveries %d live + %d from sync; %d reconnects, %d syncs, %d sync:required; %d duplicates on a socket",
		live, fromSync, w.reconnects.Load(), w.syncs.Load(), syncReq, dup)
	for _, f := range append([]*Fault{w.baseline}, w.faults...) {
		rec := "no socket client failed"
		switch {
		case f == w.baseline:
			rec = "not a fault"
		case !f.Recovered.IsZero():
			rec = fmt.Sprintf("socket clients recovered %s after it", f.Recovered.Sub(f.At).Round(10*time.Millisecond))
		}
		back := ""
		if !f.Back.IsZero() {
			back = fmt.Sprintf(", back and ready %s after it", f.Back.Sub(f.At).Round(10*time.Millisecond))
		}
		if f.Stopping > 0 {
			back += fmt.Sprintf(", exited %s after SIGTERM", f.Stopping.Round(time.Millisecond))
		}
		if f == w.baseline && len(f.Failures) == 0 {
			continue
		}
		w.t.Logf("figures: %s%s: %s; client-visible failures %s; %d messages resent", f.What, back, rec, Tally(f.Failures), f.Resent)
	}
}

// Tally prints counts by kind, sorted by kind: "a ×2, b ×1", or "none".
func Tally(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// FailureCounts returns the client-visible failures counted against f.
func (w *World) FailureCounts(f *Fault) map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(f.Failures))
	for k, v := range f.Failures {
		out[k] = v
	}
	return out
}

// Faults returns the faults injected so far.
func (w *World) Faults() []*Fault {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*Fault(nil), w.faults...)
}
