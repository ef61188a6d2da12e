package bench

import (
	"fmt"
	"math"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// scenario is one shape on one stack: its sockets are open in the load
// client, and its components are what the CPU table measures.
type scenario struct {
	name    string
	shape   string // for the header
	stack   *harness.Stack
	lc      *loadClient
	comps   []component
	senders int // senders open now (the overload burst may add some)
	shaped  int // senders of the shape itself, before any were added
	flood   floodControl
	p       params
	steps   []stepStats // in the order run
	best    *stepStats  // highest sustained ramp step (nil: none)
	ramped  bool
	capped  string // why the ramp stopped where it did, when not at a failure
	ceiled  bool   // every ramp step up to the flood-control ceiling was sustained
	over    *overload
	// more adds n conversations of the scenario's shape (nil: it cannot grow).
	more    func(b *testing.B, n int) (senders, receivers []endpoint)
	load    string   // /proc/loadavg when the scenario started
	added   int      // senders added for the overload burst
	skipped []string // steps not run, and why
}

// overload is the burst at 2× the sustained rate and what followed it.
type overload struct {
	calm, burst, after stepStats
	// shed is how many commands the gateways refused themselves
	// (parley_socketio_commands_shed_total) over the three steps; -1 when
	// a gateway's metrics could not be read.
	shed        int
	recovered   time.Duration
	recoveredOK bool
}

// loadAverage is the machine's 1, 5 and 15 minute load averages: a busy
// machine (other work on the same cores) makes every figure noise.
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}

// startStack starts a stack with the default configuration of every
// service (nothing but addresses and keys set, as `make up` does).
func startStack(b *testing.B, p params, gateways, chats int) *harness.Stack {
	b.Helper()
	return harness.Start(b, harness.Options{Gateways: gateways, Chats: chats, Logs: p.ShipLogs})
}

// signUp registers n users through gw, a few at a time (password hashing
// is deliberately slow and bounded by auth-service).
func signUp(b *testing.B, gw string, n int) []*harness.Client {
	b.Helper()
	out := make([]*harness.Client, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i := range out {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			out[i] = harness.NewClient(b, gw).SignUp()
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return out
}

func cookie(c *harness.Client) string { return harness.SessionCookie + "=" + c.Session() }

// spreadShape creates n groups, each with one sender and p.Receivers
// receivers. With several gateways, a conversation's sender and receivers
// sit on different gateways, so every delivery crosses over.
func spreadShape(b *testing.B, s *harness.Stack, p params, n int) (senders, receivers []endpoint) {
	b.Helper()
	gws := s.Gateways
	users := signUp(b, s.Gateway(), n*(1+p.Receivers))
	senders = make([]endpoint, n)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for k := range n {
		snd := users[k*(1+p.Receivers)]
		rcv := users[k*(1+p.Receivers)+1 : (k+1)*(1+p.Receivers)]
		ids := make([]string, len(rcv))
		for j, r := range rcv {
			ids[j] = r.UserID
		}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			conv := snd.CreateGroup(fmt.Sprintf("bench %d", k), ids...)
			senders[k] = endpoint{URL: gws[k%len(gws)].URL(), Cookie: cookie(snd), ConversationID: conv.ID}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	for k := range n {
		for j, r := range users[k*(1+p.Receivers)+1 : (k+1)*(1+p.Receivers)] {
			receivers = append(receivers, endpoint{URL: gws[(k+1+j)%len(gws)].URL(), Cookie: cookie(r), ConversationID: senders[k].ConversationID})
		}
	}
	return senders, receivers
}

// hotShape creates one group with p.HotSenders senders and p.HotReceivers
// members who only receive.
func hotShape(b *testing.B, s *harness.Stack, p params) (senders, receivers []endpoint) {
	b.Helper()
	gws := s.Gateways
	users := signUp(b, s.Gateway(), p.HotSenders+p.HotReceivers)
	var ids []string
	for _, u := range users[1:] {
		ids = append(ids, u.UserID)
	}
	conv := users[0].CreateGroup("bench hot", ids...)
	for i, u := range users {
		e := endpoint{URL: gws[i%len(gws)].URL(), Cookie: cookie(u), ConversationID: conv.ID}
		if i < p.HotSenders {
			senders = append(senders, e)
		} else {
			receivers = append(receivers, e)
		}
	}
	return senders, receivers
}

// components are the CPU table's lines for a stack and its load client.
func components(s *harness.Stack, lc *loadClient, p params, dbs []string) []component {
	pids := func(ps []*harness.Process) func() []int {
		return func() []int {
			var out []int
			for _, pr := range ps {
				out = append(out, pr.Pid())
			}
			return out
		}
	}
	pg, rmq := infraPid(s.Infra.Script, "pg"), infraPid(s.Infra.Script, "rabbitmq")
	comps := []component{
		{"gateway", pids(s.Gateways)},
		{"chat", pids(s.Chats)},
		{"auth+users", pids([]*harness.Process{s.Auth, s.Users})},
		{"postgres", func() []int { return postgresPids(pg, dbs) }},
		{"rabbitmq", func() []int { return tree(rmq) }},
	}
	if p.ShipLogs {
		es := infraPid(s.Infra.Script, "es")
		comps = append(comps, component{"elastic", func() []int { return tree(es) }})
	}
	return append(comps, component{"load client", pidList(lc.Pid())}, component{"bench (Go)", pidList(os.Getpid())})
}

// stackDBs are the names of a stack's databases (for the PostgreSQL line).
func stackDBs(s *harness.Stack) []string {
	return []string{"e2e_" + s.ID + "_auth", "e2e_" + s.ID + "_users", "e2e_" + s.ID + "_chat"}
}

// newScenario starts the stack's load client and opens every socket.
func newScenario(b *testing.B, name, shape string, s *harness.Stack, p params, senders, receivers []endpoint) *scenario {
	b.Helper()
	lc := startLoadClient(b)
	lc.connect(b, senders, receivers)
	return &scenario{name: name, shape: shape, stack: s, lc: lc, comps: components(s, lc, p, stackDBs(s)),
		senders: len(senders), shaped: len(senders), flood: chatFloodControl(), p: p, load: loadAverage()}
}

// measure runs segs in the load client, snapshotting CPU at each segment
// boundary, and returns the run and one CPU use per segment.
func (sc *scenario) measure(b *testing.B, name string, segs []segment, g *guard) (*runResult, []cpuUse) {
	b.Helper()
	start := time.Now().Add(20 * time.Millisecond) // the load client starts 20 ms after the command
	snaps := []cpuSnapshot{snapshot(sc.comps)}
	stop := make(chan struct{})
	done := make(chan []cpuSnapshot)
	go func() {
		var got []cpuSnapshot
		at := start
		for _, s := range segs[:len(segs)-1] {
			at = at.Add(time.Duration(s.Ms) * time.Millisecond)
			select {
			case <-stop:
				done <- got
				return
			case <-time.After(time.Until(at)):
				got = append(got, snapshot(sc.comps))
			}
		}
		<-stop
		done <- got
	}()
	r := sc.lc.run(b, name, segs, g, sc.p)
	close(stop)
	snaps = append(snaps, <-done...)
	snaps = append(snaps, snapshot(sc.comps))
	// snaps: the start, each boundary reached, the end; the last segment
	// sent ends at the end (it includes the drain).
	uses := make([]cpuUse, len(segs))
	for i := range segs {
		if i+1 < len(snaps) {
			uses[i] = since(snaps[i], snaps[i+1], sc.comps)
		}
	}
	return &r, uses
}

// settle waits until the stack's own services are idle again (gateway and
// chat-service together under a tenth of a core over a second), at most
// 30 s: a command that timed out at the gateway may still be worked on in
// chat-service, and the next step must not inherit that backlog.
func (sc *scenario) settle() {
	own := sc.comps[:2] // gateway, chat
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		s0 := snapshot(own)
		time.Sleep(time.Second)
		u := since(s0, snapshot(own), own)
		if float64(u.by["gateway"]+u.by["chat"]) < 0.1*float64(u.wall) {
			return
		}
	}
}

// fixed runs one fixed-rate step.
func (sc *scenario) fixed(b *testing.B, name string, rate float64, d time.Duration) stepStats {
	b.Helper()
	sc.settle()
	profiled := profileStep(b, sc.stack, sc.name, name, d)
	r, cpu := sc.measure(b, name, []segment{{Rate: rate, Ms: d.Milliseconds()}}, nil)
	profiled()
	st := stats(r, name, rate, d, 0, r.Sent)
	st.cpu, st.dups = cpu[0], r.Duplicates
	if sc.p.Timeline {
		printTimeline(r, name)
	}
	if c := sc.flood.ceiling(sc.senders); c > 0 && rate > c {
		st.note = fmt.Sprintf("above the flood-control ceiling (%.0f msg/s): 429s expected", c)
	}
	sc.steps = append(sc.steps, st)
	return st
}

// printTimeline prints a fixed step's latency second by second (by when
// each message was due), to tell a steady tail from stalls.
func printTimeline(r *runResult, name string) {
	fmt.Printf("%s, second by second: ack p50/p99, delivery p50/p99, load client lag p99 (ms), failures\n", name)
	for lo, sec := 0, 0; lo < r.Sent; sec++ {
		hi := lo
		for hi < r.Sent && r.Due[hi] < float64(sec+1)*1000 {
			hi++
		}
		st := stats(r, "second", 0, time.Second, lo, hi)
		at := time.UnixMilli(r.StartedAtMs).Add(time.Duration(sec) * time.Second).UTC().Format("15:04:05")
		fmt.Printf("  %3d s (%s) %6.1f %6.1f %6.1f %6.1f %6.1f %d\n", sec, at, pct(st.ack, 0.50), pct(st.ack, 0.99),
			pct(st.dlv, 0.50), pct(st.dlv, 0.99), pct(st.lag, 0.99), st.failed())
		lo = hi
	}
}

// warmUp opens pools and connections; any failure here is a broken stack.
func (sc *scenario) warmUp(b *testing.B) {
	b.Helper()
	rate := min(100, 0.5*sc.flood.ceiling(sc.senders))
	if rate <= 0 {
		rate = 100
	}
	r, _ := sc.measure(b, "warm-up", []segment{{Rate: rate, Ms: 3000}}, nil)
	st := stats(r, "warm-up", rate, 3*time.Second, 0, r.Sent)
	if st.failed() > 0 || st.missing > 0 || len(st.lost) > 0 {
		b.Fatalf("%s warm-up: %d sent, %d ok, failures %v, %d not delivered (%d deliveries of other messages), sockets lost %v; load client stderr:\n%s",
			sc.name, st.sent, st.ok, st.failures, st.missing, r.Foreign, st.lost, sc.lc.stderr)
	}
}

// ramp offers from rates, ×p.RampFactor every p.RampStep, without a pause,
// up to the flood-control ceiling or p.RampMax; the highest sustained step
// (see sustainAckP99) is sc.best.
func (sc *scenario) ramp(b *testing.B, from float64) {
	b.Helper()
	sc.ramped = true
	top := sc.p.RampMax
	ceiling := sc.flood.ceiling(sc.senders)
	if ceiling > 0 && ceiling < top {
		top = ceiling
	}
	var segs []segment
	for r := from; ; r *= sc.p.RampFactor {
		if r >= top {
			segs = append(segs, segment{Rate: top, Ms: sc.p.RampStep.Milliseconds()})
			break
		}
		segs = append(segs, segment{Rate: math.Round(r), Ms: sc.p.RampStep.Milliseconds()})
	}
	sc.settle()
	r, cpu := sc.measure(b, "ramp", segs, &guard{OutstandingSec: 1, FailRatio: 0.02})
	bounds := segmentBounds(segs)
	for i, s := range segs {
		if bounds[i] >= r.Sent {
			break
		}
		st := stats(r, fmt.Sprintf("ramp %d", i+1), s.Rate, time.Duration(s.Ms)*time.Millisecond, bounds[i], bounds[i+1])
		st.cpu = cpu[i]
		sc.steps = append(sc.steps, st)
		if !st.sustained() {
			if st.generatorBound() {
				sc.capped = fmt.Sprintf("the load client also fell behind at %.0f msg/s (emit lag p99 %.0f ms, ack p99 %.0f ms): the limit may be the client's or the shared CPU's; see its CPU", s.Rate, pct(st.lag, .99), pct(st.ack, .99))
			}
			return
		}
		best := st
		sc.best = &best
	}
	switch {
	case ceiling > 0 && top == ceiling:
		sc.ceiled = true
		sc.capped = fmt.Sprintf("every step up to the flood-control ceiling was sustained: %d senders × %.0f msg/s each; "+
			"raise the sender count (BENCH_CONVERSATIONS, BENCH_HOT_SENDERS) to ramp further", sc.senders, sc.flood.Rate)
	default:
		sc.capped = fmt.Sprintf("every step up to BENCH_RAMP_MAX (%.0f msg/s) was sustained", sc.p.RampMax)
	}
}

// overload offers half the sustained rate (calm), then twice it (burst),
// then half again, and measures refusals, accepted latency and recovery.
func (sc *scenario) overload(b *testing.B) {
	b.Helper()
	base := sc.p.RampFrom
	if sc.best != nil {
		base = sc.best.rate
	}
	// The burst must meet chat-service's admission control, not the
	// per-user flood control: add senders until it stays under 80% of the
	// flood-control ceiling.
	if need := int(math.Ceil(2 * base / (0.8 * sc.flood.Rate))); sc.flood.Rate > 0 && sc.more != nil && need > sc.senders {
		snd, rcv := sc.more(b, need-sc.senders)
		sc.added += len(snd)
		sc.senders = sc.lc.connect(b, snd, rcv)
	}
	segs := []segment{
		{Rate: base / 2, Ms: sc.p.CalmFor.Milliseconds()},
		{Rate: 2 * base, Ms: sc.p.OverloadFor.Milliseconds()},
		{Rate: base / 2, Ms: sc.p.RecoveryFor.Milliseconds()},
	}
	sc.settle()
	shedBefore := sc.shed()
	r, cpu := sc.measure(b, "overload", segs, nil)
	shedAfter := sc.shed()
	bounds := segmentBounds(segs)
	names := []string{"calm", "burst 2×", "after"}
	o := &overload{}
	out := []*stepStats{&o.calm, &o.burst, &o.after}
	for i, s := range segs {
		*out[i] = stats(r, names[i], s.Rate, time.Duration(s.Ms)*time.Millisecond, bounds[i], bounds[i+1])
		out[i].cpu = cpu[i]
	}
	if c := sc.flood.ceiling(sc.senders); c > 0 && 2*base > c {
		o.burst.note = fmt.Sprintf("the burst (%.0f msg/s) is above the flood-control ceiling of %d senders (%.0f msg/s): its 429s are flood control, not overload; raise BENCH_CONVERSATIONS", 2*base, sc.senders, c)
	}
	o.recovered, o.recoveredOK = recovery(r, o.calm, bounds[2], bounds[3], 250)
	o.shed = -1
	if shedBefore >= 0 && shedAfter >= 0 {
		o.shed = shedAfter - shedBefore
	}
	sc.over = o
}

// shed sums the commands the scenario's gateways have shed so far, or -1
// when one's metrics cannot be read.
func (sc *scenario) shed() int {
	total := 0.0
	for _, gw := range sc.stack.Gateways {
		m, err := gw.Metrics()
		if err != nil {
			return -1
		}
		total += harness.Sum(m, "parley_socketio_commands_shed_total")
	}
	return int(total)
}
