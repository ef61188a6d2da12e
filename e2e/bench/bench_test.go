package bench

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

const (
	pairs      = 25               // conversations, each with its own sender and receiver
	fixedFor   = 10 * time.Second // each fixed-rate run
	rampFor    = 5 * time.Second  // each ramp step
	drain      = 20 * time.Second // wait for the tail of acks and deliveries
	rampFrom   = 500.0
	rampFactor = 1.2
	rampSteps  = 12
)

// BenchmarkRealtime starts one gateway and one chat-service (plus auth-
// and user-service) and measures, for 25 senders each writing to their own
// direct conversation over Socket.IO:
//   - send → ack and send → delivery to the other user (through the outbox
//     and RabbitMQ) at a fixed 500 and 1,000 messages/s for 10 s each;
//   - the highest rate, ramping up by 20% every 5 s from 500/s, at which
//     every message is stored and acks keep up (see step.sustained).
//
// Run it once (-benchtime 1x); b.N is ignored. Flood control is off for
// the stack (MESSAGE_RATE=0), as it would refuse a benchmark's senders.
func BenchmarkRealtime(b *testing.B) {
	// Warnings only, so that what the services say under load is at hand
	// for the report (the socket path logs at debug level anyway).
	s := harness.Start(b, harness.Options{Env: map[string][]string{
		"chat-service": {"MESSAGE_RATE=0", "LOG_LEVEL=warn"},
		"gateway":      {"LOG_LEVEL=warn"},
	}})
	gw := s.Gateway()
	rec := newRecorder()
	ps := connectPairs(b, gw, rec)
	b.ResetTimer()

	// Warm up connections and pools.
	warm := rec.drive("warmup", ps, 200, 2*time.Second, drain)
	if l := lost(ps); len(l) > 0 || warm.failed > 0 || warm.delivered != warm.sent {
		b.Fatalf("warm-up: %d sent, %d acked, %d delivered, errors %v, sockets lost %v", warm.sent, warm.acked, warm.delivered, warm.failures, l)
	}

	var fixed []step
	for _, rate := range []float64{500, 1000} {
		st := rec.drive(fmt.Sprintf("fixed-%.0f", rate), ps, rate, fixedFor, drain)
		st.lost = lost(ps)
		fixed = append(fixed, st)
	}
	var ramp []step
	best := step{}
	for i, rate := 0, rampFrom; i < rampSteps; i, rate = i+1, rate*rampFactor {
		st := rec.drive(fmt.Sprintf("ramp-%.0f", rate), ps, rate, rampFor, drain)
		st.lost = lost(ps)
		ramp = append(ramp, st)
		if !st.sustained() {
			break
		}
		best = st
	}
	b.StopTimer()

	rows := s.Count(b, "chat-service", "SELECT count(*) FROM messages")
	report(b, fixed, ramp, best, rows)
	for _, p := range []*harness.Process{s.Gateways[0], s.Chats[0]} {
		printWarnings(p)
	}
}

// printWarnings shows what a service logged at warn level or above in the
// tail of its output, leaving out the per-command error lines (the table
// counts those) and the start-up noise of readiness probes.
func printWarnings(p *harness.Process) {
	var keep []string
	skipped := 0
	for _, l := range strings.Split(p.Output(), "\n") {
		switch {
		case !strings.HasPrefix(l, "{"), // empty, or cut by the tail
			strings.Contains(l, `"url.path":"/readyz"`), strings.Contains(l, "revocation snapshot unavailable"):
		case strings.Contains(l, `"event.dataset":"socketio.command"`):
			skipped++
		default:
			keep = append(keep, l)
		}
	}
	if len(keep) > 0 || skipped > 0 {
		fmt.Printf("%s, last warnings and errors (%d failed-command lines left out):\n%s\n\n", p.Name, skipped, strings.Join(keep, "\n"))
	}
}

// connectPairs signs up a sender and a receiver per pair, opens their
// direct conversation and connects both.
func connectPairs(b *testing.B, gw string, rec *recorder) []pair {
	b.Helper()
	out := make([]pair, pairs)
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4) // signups hash passwords: keep the machine usable
	for i := range out {
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			snd := harness.NewClient(b, gw).SignUp()
			rcv := harness.NewClient(b, gw).SignUp()
			out[i].conv = snd.CreateDirect(rcv.UserID).ID
			var err error
			if out[i].sender, err = harness.DialSocket(b, gw, harness.SocketOptions{Header: snd.SocketHeader(), Discard: true}); err != nil {
				b.Errorf("sender socket: %v", err)
			}
			if out[i].receiver, err = harness.DialSocket(b, gw, harness.SocketOptions{Header: rcv.SocketHeader(), Discard: true, OnEvent: rec.onEvent}); err != nil {
				b.Errorf("receiver socket: %v", err)
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	// Every socket answers before the clock starts.
	for _, p := range out {
		for _, sock := range []*harness.Socket{p.sender, p.receiver} {
			sock.MustEmit("sync", map[string]any{"conversations": map[string]int64{p.conv: 0}})
		}
	}
	return out
}

// lost lists the sockets that were disconnected, with the reason.
func lost(ps []pair) []string {
	var out []string
	for i, p := range ps {
		for role, sock := range map[string]*harness.Socket{"sender": p.sender, "receiver": p.receiver} {
			select {
			case <-sock.Gone():
				out = append(out, fmt.Sprintf("%s %d (%s): %s", role, i, sock.ID(), sock.DisconnectReason()))
			default:
			}
		}
	}
	return out
}

func report(b *testing.B, fixed, ramp []step, best step, rows int64) {
	w := os.Stdout
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f", float64(d)/float64(time.Millisecond)) }
	fmt.Fprintf(w, "\nParley end-to-end (1 gateway, 1 chat-service; %d senders → %d direct conversations; GOMAXPROCS %d, %d CPUs shared with the stack and this client)\n",
		pairs, pairs, runtime.GOMAXPROCS(0), runtime.NumCPU())
	fmt.Fprintf(w, "latency from the moment each send was due; delivery = the other user's message:new via outbox → RabbitMQ → gateway\n\n")
	fmt.Fprintf(w, "%-12s %8s %7s %7s %9s %10s %9s %9s %9s %9s %9s %9s %7s  %s\n",
		"run", "offered/s", "sent", "acked", "delivered", "stored/s", "ack p50", "ack p99", "ack max", "dlv p50", "dlv p99", "dlv max", "client", "errors")
	line := func(st step) {
		errs := "-"
		if st.failed > 0 {
			errs = fmt.Sprint(st.failures)
		}
		if len(st.lost) > 0 {
			errs += fmt.Sprintf(" sockets lost: %v", st.lost)
		}
		fmt.Fprintf(w, "%-12s %8.0f %7d %7d %9d %10.0f %9s %9s %9s %9s %9s %9s %6.0f%%  %s\n",
			st.name, st.rate, st.sent, st.acked, st.delivered, st.persisted(),
			ms(pct(st.ack, .5)), ms(pct(st.ack, .99)), ms(pct(st.ack, 1)),
			ms(pct(st.deliver, .5)), ms(pct(st.deliver, .99)), ms(pct(st.deliver, 1)), 100*st.clientCPU, errs)
	}
	for _, st := range fixed {
		line(st)
	}
	fmt.Fprintln(w)
	for _, st := range ramp {
		line(st)
	}
	fmt.Fprintf(w, "(latencies in ms; client = this load generator's CPU, 100%% = one core; errors \"503 unavailable\" are commands\n"+
		" refused by chat-service with its per-worker queue full (it answers 503 overloaded, which the shared problem\n"+
		" type makes generic), or by the gateway with its link down (then the warnings below say \"chat link down\"))\n\n")
	switch {
	case len(ramp) == 0:
	case best.name == "":
		fmt.Fprintf(w, "max sustained persisted messages/s: below the first ramp step (%.0f/s)\n", ramp[0].rate)
	default:
		fmt.Fprintf(w, "max sustained persisted messages/s: %.0f (offered %.0f/s; the next step lagged or failed)\n", best.persisted(), best.rate)
		fmt.Fprintf(w, "  sustained = every message stored, ≥95%% of the offered rate, under 0.5 s of acks outstanding when sending stopped, ack p99 < 1 s\n")
	}
	fmt.Fprintf(w, "messages stored in chat-service's database: %d\n\n", rows)

	for _, st := range fixed {
		b.ReportMetric(float64(pct(st.ack, .5))/1e6, fmt.Sprintf("ms-ack-p50@%.0f", st.rate))
		b.ReportMetric(float64(pct(st.ack, .99))/1e6, fmt.Sprintf("ms-ack-p99@%.0f", st.rate))
		b.ReportMetric(float64(pct(st.deliver, .5))/1e6, fmt.Sprintf("ms-dlv-p50@%.0f", st.rate))
		b.ReportMetric(float64(pct(st.deliver, .99))/1e6, fmt.Sprintf("ms-dlv-p99@%.0f", st.rate))
	}
	b.ReportMetric(best.persisted(), "max-stored-msg/s")
}
