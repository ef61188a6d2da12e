package bench

import (
	"fmt"
	"io"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

func ms(v float64) string {
	if math.IsNaN(v) {
		return "-"
	}
	if v >= 100 {
		return fmt.Sprintf("%.0f", v)
	}
	return fmt.Sprintf("%.1f", v)
}

// failureText lists failures by code, most frequent first.
func failureText(m map[string]int) string {
	if len(m) == 0 {
		return "0"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b string) int { return m[b] - m[a] })
	var parts []string
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s ×%d", k, m[k]))
	}
	return strings.Join(parts, ", ")
}

// parleyNames are the CPU components that make up Parley's stack.
var parleyNames = []string{"gateway", "chat", "auth+users", "postgres", "rabbitmq", "elastic"}

func printHeader(w io.Writer, sc *scenario) {
	fmt.Fprintf(w, "\n== %s: %s ==\n", sc.name, sc.shape)
	busy := ""
	if f := strings.Fields(sc.load); len(f) > 0 {
		if l, err := strconv.ParseFloat(f[0], 64); err == nil && l > float64(runtime.NumCPU()) {
			busy = " (above the CPU count: other work shares the cores, the figures are noise)"
		}
	}
	fmt.Fprintf(w, "every service in its default configuration (log level info%s); %d CPUs, shared with the load client and this driver;\n"+
		"load average when the scenario started: %s%s\n",
		map[bool]string{true: ", logs shipped to Elasticsearch as `make up` does", false: ", logs not shipped (BENCH_SHIP_LOGS=0)"}[sc.p.ShipLogs], runtime.NumCPU(), sc.load, busy)
	f := sc.flood
	src := "chat-service's default"
	if !f.Known {
		src = "assumed (chat-service's default could not be read)"
	}
	if c := f.ceiling(sc.shaped); c > 0 {
		fmt.Fprintf(w, "flood control %s: %.0f msg/s per user, burst %d, per chat-service instance, left on. %d senders stay under it up to %.0f msg/s offered;\n"+
			"  the ramp stops there, and higher rates need more senders (BENCH_CONVERSATIONS / BENCH_HOT_SENDERS), never a relaxed limit.\n",
			src, f.Rate, f.Burst, sc.shaped, c)
	}
	fmt.Fprintf(w, "latency in ms from the moment each message was due (a late load client cannot hide queueing); ack = send → ack {ok};\n"+
		"delivery = send → the receiver's message:new; lag = how late the load client emitted (p99; inside every latency already)\n")
}

func printSteps(w io.Writer, steps []stepStats) {
	fmt.Fprintf(w, "\n%-10s %9s %7s %7s %9s %9s %8s %8s %8s %8s %7s  %s\n",
		"step", "offered/s", "sent", "acked", "delivered", "stored/s", "ack p50", "ack p99", "dlv p50", "dlv p99", "lag p99", "failures")
	for _, st := range steps {
		extra := ""
		if len(st.lost) > 0 {
			extra += fmt.Sprintf("; %d sockets lost (%s)", len(st.lost), st.lost[0].Reason)
		}
		if st.missing > 0 {
			extra += fmt.Sprintf("; %d acked but not delivered", st.missing)
		}
		if st.stillSent > 0 {
			extra += fmt.Sprintf("; %d failed but delivered anyway", st.stillSent)
		}
		if st.dups > 0 {
			extra += fmt.Sprintf("; %d duplicate deliveries", st.dups)
		}
		if st.note != "" {
			extra += "; " + st.note
		}
		fmt.Fprintf(w, "%-10s %9.0f %7d %7d %9d %9.0f %8s %8s %8s %8s %7s  %s%s\n",
			st.name, st.rate, st.sent, st.ok, st.delivered, st.storedRate(),
			ms(pct(st.ack, .5)), ms(pct(st.ack, .99)), ms(pct(st.dlv, .5)), ms(pct(st.dlv, .99)), ms(pct(st.lag, .99)),
			failureText(st.failures), extra)
	}
}

// printCPU prints CPU per stored message by component (ms), and the cores
// Parley's stack used in all.
func printCPU(w io.Writer, steps []stepStats) {
	if len(steps) == 0 {
		return
	}
	names := steps[0].cpu.names
	fmt.Fprintf(w, "\nCPU ms per stored message (utime+stime from /proc; postgres = postmaster, auxiliary processes and this stack's backends)\n")
	fmt.Fprintf(w, "%-10s", "step")
	for _, n := range names {
		fmt.Fprintf(w, " %11s", n)
	}
	fmt.Fprintf(w, " %11s %12s\n", "Parley", "Parley cores")
	for _, st := range steps {
		if st.cpu.wall == 0 {
			continue
		}
		fmt.Fprintf(w, "%-10s", st.name)
		per := func(d time.Duration) string {
			if st.ok == 0 {
				return "-"
			}
			return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)/float64(st.ok))
		}
		var total time.Duration
		for _, n := range names {
			fmt.Fprintf(w, " %11s", per(st.cpu.by[n]))
			if slices.Contains(parleyNames, n) {
				total += st.cpu.by[n]
			}
		}
		fmt.Fprintf(w, " %11s %12.2f\n", per(total), float64(total)/float64(st.cpu.wall))
	}
}

func printScenario(w io.Writer, sc *scenario) {
	printHeader(w, sc)
	for _, s := range sc.skipped {
		fmt.Fprintln(w, s)
	}
	printSteps(w, sc.steps)
	printCPU(w, sc.steps)
	if sc.ramped {
		fmt.Fprintf(w, "\nsustained = every message due in a ramp step acked ok and delivered to every receiver, ack p99 ≤ %.0f ms and delivery p99 ≤ %.0f ms\n"+
			"  (from when each was due), and no socket lost; the ramp adds %.0f%% every %s without a pause.\n",
			sustainAckP99, sustainDlvP99, 100*(sc.p.RampFactor-1), sc.p.RampStep)
		switch {
		case sc.best == nil:
			fmt.Fprintf(w, "highest sustained stored-and-delivered rate: below the first ramp step (%.0f msg/s)\n", sc.steps[len(sc.steps)-1].rate)
		default:
			fmt.Fprintf(w, "highest sustained stored-and-delivered rate: %.0f msg/s (stored %.0f/s)\n", sc.best.rate, sc.best.storedRate())
		}
		if sc.capped != "" {
			fmt.Fprintf(w, "  (%s)\n", sc.capped)
		}
	}
	if sc.over != nil {
		if sc.added > 0 {
			fmt.Fprintf(w, "\nfor the overload burst, %d conversations were added (%d senders in all) so that it stays under flood control\n", sc.added, sc.senders)
		}
		printOverload(w, sc.over, sc.best != nil)
	}
	for _, p := range append(append([]*harness.Process{}, sc.stack.Gateways...), sc.stack.Chats...) {
		printWarnings(w, p.Name, p.Output())
	}
}

func printOverload(w io.Writer, o *overload, sustained bool) {
	base := "2× the highest sustained rate"
	if !sustained {
		base = "2× the first ramp step, as no step was sustained"
	}
	fmt.Fprintf(w, "\noverload: calm %.0f msg/s for %s, burst %.0f msg/s (%s) for %s, calm again for %s\n",
		o.calm.rate, o.calm.dur, o.burst.rate, base, o.burst.dur, o.after.dur)
	printSteps(w, []stepStats{o.calm, o.burst, o.after})
	printCPU(w, []stepStats{o.calm, o.burst, o.after})
	b := o.burst
	fmt.Fprintf(w, "burst: %d offered, %d accepted (ack p50 %s, p99 %s ms), %d refused or failed\n",
		b.sent, b.ok, ms(pct(b.ack, .5)), ms(pct(b.ack, .99)), b.failed())
	codes := make([]string, 0, len(b.failures))
	for c := range b.failures {
		codes = append(codes, c)
	}
	slices.Sort(codes)
	for _, c := range codes {
		ra := "no retry hint"
		if mm, ok := b.retry[c]; ok {
			ra = fmt.Sprintf("retryAfterMs %d–%d", mm[0], mm[1])
		}
		fmt.Fprintf(w, "  %-28s ×%-6d answered in p50 %s, p99 %s ms from when due (p50 %s, p99 %s from the emit); %s\n", c, b.failures[c],
			ms(pct(b.refusals[c], .5)), ms(pct(b.refusals[c], .99)),
			ms(pct(b.sentRefusals[c], .5)), ms(pct(b.sentRefusals[c], .99)), ra)
	}
	if o.shed >= 0 {
		fmt.Fprintf(w, "  the gateways shed %d of the overloaded refusals over the three steps themselves (while chat-service refused); chat-service answered the rest\n", o.shed)
	}
	lost := len(o.calm.lost) + len(o.burst.lost) + len(o.after.lost)
	fmt.Fprintf(w, "sockets lost: %d\n", lost)
	rule := fmt.Sprintf("250 ms windows: no failure, ack and delivery p99 within max(2×, +10 ms) of the calm step's (%s / %s ms), capped at %.0f / %.0f ms",
		ms(pct(o.calm.ack, .99)), ms(pct(o.calm.dlv, .99)), sustainAckP99, sustainDlvP99)
	if o.recoveredOK {
		fmt.Fprintf(w, "back to normal %.1f s after the burst (%s)\n", o.recovered.Seconds(), rule)
	} else {
		fmt.Fprintf(w, "NOT back to normal %.0f s after the burst (%s)\n", o.after.dur.Seconds(), rule)
	}
	if !o.calm.sustained() {
		fmt.Fprintf(w, "warning: the calm step before the burst was not itself sustained; the stack (or the machine) was already overloaded\n")
	}
	if b.note != "" {
		fmt.Fprintf(w, "note: %s\n", b.note)
	}
}

func printBaseline(w io.Writer, r baselineResult) {
	pgMs := float64(r.cpu.by["postgres"]) / float64(time.Millisecond) / float64(max(r.sent, 1))
	check := "every conversation's seq gap-free and equal to its message count"
	if !r.gapFree {
		check = "SEQ CHECK FAILED: a conversation's seq differs from its message count or has a gap"
	}
	fmt.Fprintf(w, "%-24s %5d %6d %8d %9.0f %8s %8s %10.3f %10.2f %6d  %s\n", r.name, r.conns, r.convs, r.sent, r.rate(),
		ms(pct(r.lat, .5)), ms(pct(r.lat, .99)), pgMs, float64(r.cpu.by["postgres"])/float64(r.cpu.wall), r.errs, check)
}

// printWarnings shows what a service logged at warn level or above in the
// tail of its output (per-command failures left out: the tables count
// them), so that a link going down or a refusal storm is at hand.
func printWarnings(w io.Writer, name, output string) {
	var keep []string
	skipped := 0
	for _, l := range strings.Split(output, "\n") {
		switch {
		case !strings.HasPrefix(l, "{"), // empty, or cut by the tail
			!strings.Contains(l, `"log.level":"warn"`) && !strings.Contains(l, `"log.level":"error"`):
		case strings.Contains(l, `"event.dataset":"socketio.command"`):
			skipped++
		default:
			keep = append(keep, l)
		}
	}
	if len(keep) > 0 || skipped > 0 {
		fmt.Fprintf(w, "\n%s: last warnings and errors in its output tail (%d failed-command lines left out):\n%s\n", name, skipped, strings.Join(keep, "\n"))
	}
}
