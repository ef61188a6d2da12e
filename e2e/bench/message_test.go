package bench

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

// BenchmarkMessagePath measures Parley's message path with the official
// socket.io-client (Node.js, a separate load process) against real stacks
// in their default configuration, and the plain server's one statement on
// the same PostgreSQL as a baseline:
//
//   - baseline: the statement (baselineInsert) from BENCH_BASELINE_CONNS
//     connections in closed loops over the spread's conversations, and
//     over one conversation with the hot group's senders;
//   - spread: BENCH_CONVERSATIONS groups of one sender and
//     BENCH_RECEIVERS receivers, one gateway and one chat-service: fixed
//     steps (BENCH_FIXED_RATES for BENCH_FIXED_FOR), a ramp to the highest
//     sustained rate, and an overload burst at twice that rate;
//   - hot: one group with BENCH_HOT_SENDERS senders and
//     BENCH_HOT_RECEIVERS receivers: fixed steps under its flood-control
//     ceiling, and a ramp;
//   - topology-2x2: the spread on two gateways and two chat-services, each
//     conversation's sender and receiver on different gateways.
//
// Run it once (-benchtime 1x; b.N is ignored); pick parts with -bench,
// e.g. -bench 'MessagePath/(baseline|spread)$'. It prints figures and
// asserts nothing about speed; it fails when the stack is broken (the
// warm-up loses or refuses a message) or the baseline's seq check fails.
func BenchmarkMessagePath(b *testing.B) {
	p := loadParams(b)
	w := os.Stdout
	var spreadBase, hotBase *baselineResult
	var spread, hot, topo *scenario

	b.Run("baseline", func(b *testing.B) {
		spreadDB := newBaselineDB(b, p.Conversations, 1)
		hotDB := newBaselineDB(b, 1, p.HotSenders)
		sb := runBaseline(b, "spread", spreadDB, p.BaselineConns, p.BaselineFor)
		hb := runBaseline(b, "hot (one conversation)", hotDB, p.BaselineConns, p.BaselineFor)
		fmt.Fprintf(w, "\n== baseline: a plain server's one statement per message, on the same PostgreSQL, as fast as it goes ==\n"+
			"(per-conversation seq, unique clientMsgId per sender, membership, autocommit with synchronous_commit on; see baselineInsert.\n"+
			" This is the plain server's database work alone: its Node process would add its own CPU on the same cores.)\n\n")
		fmt.Fprintf(w, "%-24s %5s %6s %8s %9s %8s %8s %10s %10s %6s\n", "shape", "conns", "convs", "stored", "msg/s", "p50", "p99", "pg ms/msg", "pg cores", "errors")
		printBaseline(w, sb)
		printBaseline(w, hb)
		if !sb.gapFree || !hb.gapFree {
			b.Errorf("baseline: seq check failed")
		}
		spreadBase, hotBase = &sb, &hb
	})
	b.Run("spread", func(b *testing.B) {
		s := startStack(b, p, 1, 1)
		snd, rcv := spreadShape(b, s, p, p.Conversations)
		sc := newScenario(b, "spread", fmt.Sprintf("%d group conversations × (1 sender, %d receiver), 1 gateway × 1 chat-service", p.Conversations, p.Receivers), s, p, snd, rcv)
		sc.more = func(b *testing.B, n int) ([]endpoint, []endpoint) { return spreadShape(b, s, p, n) }
		sc.warmUp(b)
		for _, r := range p.FixedRates {
			sc.fixed(b, fmt.Sprintf("fixed %.0f", r), r, p.FixedFor)
		}
		sc.ramp(b, p.RampFrom)
		sc.overload(b)
		printScenario(w, sc)
		spread = sc
	})
	b.Run("hot", func(b *testing.B) {
		s := startStack(b, p, 1, 1)
		snd, rcv := hotShape(b, s, p)
		sc := newScenario(b, "hot", fmt.Sprintf("one group, %d senders and %d receiver(s), 1 gateway × 1 chat-service", p.HotSenders, p.HotReceivers), s, p, snd, rcv)
		sc.warmUp(b)
		for _, r := range p.FixedRates {
			if c := sc.flood.ceiling(sc.senders); c > 0 && r > c {
				sc.skipped = append(sc.skipped, fmt.Sprintf("fixed %.0f skipped: above the flood-control ceiling of %d senders (%.0f msg/s)", r, sc.senders, c))
				continue
			}
			sc.fixed(b, fmt.Sprintf("fixed %.0f", r), r, p.FixedFor)
		}
		sc.ramp(b, p.HotRampFrom)
		printScenario(w, sc)
		hot = sc
	})
	b.Run("topology-2x2", func(b *testing.B) {
		s := startStack(b, p, 2, 2)
		snd, rcv := spreadShape(b, s, p, p.Conversations)
		sc := newScenario(b, "topology-2x2", fmt.Sprintf("%d group conversations × (1 sender, %d receiver), 2 gateways × 2 chat-services, sender and receiver on different gateways", p.Conversations, p.Receivers), s, p, snd, rcv)
		sc.warmUp(b)
		for _, r := range p.FixedRates {
			sc.fixed(b, fmt.Sprintf("fixed %.0f", r), r, p.FixedFor)
		}
		sc.ramp(b, p.RampFrom)
		printScenario(w, sc)
		topo = sc
	})
	printSummary(w, spreadBase, hotBase, spread, hot, topo)
}

// printSummary is the table: fixed steps, highest sustained rates
// and their ratio to the baseline measured in the same run.
func printSummary(w io.Writer, spreadBase, hotBase *baselineResult, spread, hot, topo *scenario) {
	fmt.Fprintf(w, "\n== summary (one run; figures from a busy machine are noise: re-run on a quiet one) ==\n")
	fixedLine := func(sc *scenario, name string) string {
		if sc == nil {
			return "not run"
		}
		for _, st := range sc.steps {
			if st.name == name {
				return fmt.Sprintf("ack p99 %s, dlv p99 %s ms, %d failed", ms(pct(st.ack, .99)), ms(pct(st.dlv, .99)), st.failed())
			}
		}
		return "not run"
	}
	sustained := func(sc *scenario) string {
		switch {
		case sc == nil || !sc.ramped:
			return "not run"
		case sc.best == nil:
			return "below the first step"
		case sc.ceiled:
			return fmt.Sprintf("≥ %.0f (flood ceiling)", sc.best.rate)
		}
		return fmt.Sprintf("%.0f", sc.best.rate)
	}
	var fixedNames []string
	for _, sc := range []*scenario{spread, topo} {
		if sc == nil {
			continue
		}
		for _, st := range sc.steps {
			if strings.HasPrefix(st.name, "fixed ") && !slices.Contains(fixedNames, st.name) {
				fixedNames = append(fixedNames, st.name)
			}
		}
	}
	for _, name := range fixedNames {
		fmt.Fprintf(w, "%-28s 1×1: %-46s 2×2: %s\n", name+" msg/s", fixedLine(spread, name), fixedLine(topo, name))
	}
	fmt.Fprintf(w, "%-28s 1×1: %-46s 2×2: %s\n", "highest sustained msg/s", sustained(spread), sustained(topo))
	fmt.Fprintf(w, "%-28s %s\n", "hot group, highest msg/s", sustained(hot))
	ratio := func(sc *scenario, base *baselineResult) string {
		if sc == nil || sc.best == nil || base == nil || base.rate() == 0 {
			return "-"
		}
		atLeast := ""
		if sc.ceiled {
			atLeast = "≥ "
		}
		return fmt.Sprintf("%s%.2f× (%.0f / %.0f)", atLeast, sc.best.rate/base.rate(), sc.best.rate, base.rate())
	}
	fmt.Fprintf(w, "%-28s spread 1×1: %s; 2×2: %s; hot: %s\n", "ratio to baseline statement", ratio(spread, spreadBase), ratio(topo, spreadBase), ratio(hot, hotBase))
	if spread != nil && spread.best != nil && spreadBase != nil {
		st := spread.best
		var total time.Duration
		for _, n := range parleyNames {
			total += st.cpu.by[n]
		}
		perMsg := func(d time.Duration, n int) float64 {
			return float64(d) / float64(time.Millisecond) / float64(max(n, 1))
		}
		fmt.Fprintf(w, "%-28s Parley %.2f ms in all at %.0f msg/s (postgres %.2f); baseline statement: postgres %.2f ms\n", "CPU per message (spread)",
			perMsg(total, st.ok), st.rate, perMsg(st.cpu.by["postgres"], st.ok), perMsg(spreadBase.cpu.by["postgres"], spreadBase.sent))
	}
	if spread != nil && spread.over != nil {
		o := spread.over
		fmt.Fprintf(w, "%-28s %.0f msg/s: %d accepted (ack p99 %s ms), refused %s, %d sockets lost, recovery %s\n", "overload burst (1×1)",
			o.burst.rate, o.burst.ok, ms(pct(o.burst.ack, .99)), failureText(o.burst.failures), len(o.calm.lost)+len(o.burst.lost)+len(o.after.lost),
			map[bool]string{true: fmt.Sprintf("%.1f s", o.recovered.Seconds()), false: "not within the watch"}[o.recoveredOK])
	}
}
