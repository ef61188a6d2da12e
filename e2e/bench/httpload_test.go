package bench

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// httpRun is one load tool run against one URL.
type httpRun struct {
	rps      float64
	p50, p99 float64 // ms
	requests int
	bad      int // non-2xx answers and socket errors
	cpu      cpuUse
}

var (
	wrkRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	wrkTotal    = regexp.MustCompile(`(\d+) requests in`)
	wrkPct      = regexp.MustCompile(`(?m)^\s+(50|99)(?:\.000)?%\s+([0-9.]+)(us|ms|s)\b`)
	wrkNon2xx   = regexp.MustCompile(`Non-2xx or 3xx responses: (\d+)`)
	wrkSockErrs = regexp.MustCompile(`Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)`)
	heyRPS      = regexp.MustCompile(`Requests/sec:\s+([0-9.]+)`)
	heyPct      = regexp.MustCompile(`(?m)^\s+(50|99)% in ([0-9.]+) secs`)
	heyStatus   = regexp.MustCompile(`(?m)^\s+\[(\d+)\]\s+(\d+) responses`)
	heyErrors   = regexp.MustCompile(`(?m)^Error distribution:\s*\n((?:\s+\[\d+\].*\n?)+)`)
	heyErrCount = regexp.MustCompile(`\[(\d+)\]`)
)

// setPct records the "50" or "99" percentile, in ms.
func (r *httpRun) setPct(which string, ms float64) {
	if which == "50" {
		r.p50 = ms
	} else {
		r.p99 = ms
	}
}

func toMs(v float64, unit string) float64 {
	switch unit {
	case "us":
		return v / 1000
	case "s":
		return v * 1000
	}
	return v
}

// runWrk runs wrk in a closed loop: 2 threads, conns connections, for d.
func runWrk(b *testing.B, wrk, url string, header []string, conns int, d time.Duration, comps []component) httpRun {
	b.Helper()
	args := []string{"-t", "2", "-c", strconv.Itoa(conns), "-d", fmt.Sprintf("%ds", int(d.Seconds())), "--latency"}
	return runTool(b, wrk, args, header, url, comps, parseWrk)
}

// parseWrk reads wrk's --latency report.
func parseWrk(out string) httpRun {
	var r httpRun
	if m := wrkRPS.FindStringSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := wrkTotal.FindStringSubmatch(out); m != nil {
		r.requests, _ = strconv.Atoi(m[1])
	}
	for _, m := range wrkPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		r.setPct(m[1], toMs(v, m[3]))
	}
	if m := wrkNon2xx.FindStringSubmatch(out); m != nil {
		r.bad, _ = strconv.Atoi(m[1])
	}
	if m := wrkSockErrs.FindStringSubmatch(out); m != nil {
		for _, s := range m[1:] {
			n, _ := strconv.Atoi(s)
			r.bad += n
		}
	}
	return r
}

// runHey offers rate requests/s for d from workers connections (hey's -q
// is per worker), recording latency percentiles.
func runHey(b *testing.B, hey, url string, header []string, rate float64, workers int, d time.Duration, comps []component) httpRun {
	b.Helper()
	args := []string{"-z", fmt.Sprintf("%ds", int(d.Seconds())), "-c", strconv.Itoa(workers), "-q", fmt.Sprintf("%g", rate/float64(workers))}
	return runTool(b, hey, args, header, url, comps, parseHey)
}

// parseHey reads hey's summary.
func parseHey(out string) httpRun {
	var r httpRun
	if m := heyRPS.FindStringSubmatch(out); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	for _, m := range heyPct.FindAllStringSubmatch(out, -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		r.setPct(m[1], v*1000)
	}
	for _, m := range heyStatus.FindAllStringSubmatch(out, -1) {
		n, _ := strconv.Atoi(m[2])
		r.requests += n
		if !strings.HasPrefix(m[1], "2") {
			r.bad += n
		}
	}
	if m := heyErrors.FindStringSubmatch(out); m != nil {
		for _, e := range heyErrCount.FindAllStringSubmatch(m[1], -1) {
			n, _ := strconv.Atoi(e[1])
			r.bad += n
			r.requests += n
		}
	}
	return r
}

// runTool runs a load tool (both take headers as -H) against url,
// measuring the components' CPU around it, and parses its report.
func runTool(b *testing.B, bin string, args, header []string, url string, comps []component, parse func(string) httpRun) httpRun {
	b.Helper()
	for _, h := range header {
		args = append(args, "-H", h)
	}
	args = append(args, url)
	s0 := snapshot(comps)
	out, err := exec.Command(bin, args...).CombinedOutput()
	s1 := snapshot(comps)
	if err != nil {
		b.Fatalf("%s %s: %v\n%s", bin, strings.Join(args, " "), err, out)
	}
	r := parse(string(out))
	if r.rps == 0 {
		b.Fatalf("%s printed no rate:\n%s", bin, out)
	}
	r.cpu = since(s0, s1, comps)
	return r
}
