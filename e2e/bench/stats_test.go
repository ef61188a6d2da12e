package bench

import (
	"math"
	"slices"
	"time"
)

// Sustained: a ramp step counts as sustained when every message due in it
// was acked ok (no refusal, no timeout) and delivered to every receiver,
// with ack p99 ≤ sustainAckP99 and delivery p99 ≤ sustainDlvP99 counted
// from when each message was due, and no socket lost. The highest
// sustained rate is the offered rate of the last step before the first one
// that is not sustained. A load client that falls behind its schedule
// cannot make a step look better (its lag is inside every latency), only
// worse: when a failed step's emit lag p99 exceeds generatorLagP99 and half
// its ack p99, the report says the limit may be the client's.
const (
	sustainAckP99   = 250.0 // ms
	sustainDlvP99   = 500.0 // ms
	generatorLagP99 = 50.0  // ms
)

// stepStats summarizes the messages due in one step (a whole fixed run or
// one segment of a ramp), latencies in ms from each message's due time.
type stepStats struct {
	name      string
	rate      float64 // offered, msg/s
	dur       time.Duration
	sent      int
	ok        int                  // acked ok: stored
	failures  map[string]int       // by "<status> <code>", "timeout", "socket lost"
	delivered int                  // acked ok and delivered to every receiver
	missing   int                  // acked ok, not delivered to some receiver within the drain
	stillSent int                  // failed acks whose message was delivered anyway
	ack       []float64            // ok acks, sorted
	dlv       []float64            // every (ok message, receiver) delivery, sorted
	lag       []float64            // load client's emit lag, sorted
	refusals  map[string][]float64 // failed acks' latency from when due, by code
	// sentRefusals is the same from when the load client emitted: what the
	// servers took, without the client's own lateness.
	sentRefusals map[string][]float64
	retry        map[string][2]int // retryAfterMs min, max by code
	lost         []lostSocket      // sockets lost while the step ran
	dups         int
	cpu          cpuUse
	note         string
}

// stats summarizes messages [from, to) of r.
func stats(r *runResult, name string, rate float64, dur time.Duration, from, to int) stepStats {
	to = min(to, r.Sent)
	st := stepStats{name: name, rate: rate, dur: dur, failures: map[string]int{},
		refusals: map[string][]float64{}, sentRefusals: map[string][]float64{}, retry: map[string][2]int{}}
	if from >= to {
		return st
	}
	for i := from; i < to; i++ {
		st.sent++
		st.lag = append(st.lag, r.Lag[i])
		c := r.code(i)
		if r.Ack[i] < 0 {
			c = "no ack"
		}
		all := true
		anyDlv := false
		for _, d := range r.Dlv {
			if d[i] < 0 {
				all = false
			} else {
				anyDlv = true
			}
		}
		if c != "" {
			st.failures[c]++
			if r.Ack[i] >= 0 {
				st.refusals[c] = append(st.refusals[c], r.Ack[i]-r.Due[i])
				if r.Lag[i] >= 0 {
					st.sentRefusals[c] = append(st.sentRefusals[c], r.Ack[i]-r.Due[i]-r.Lag[i])
				}
			}
			if ra := r.Retry[i]; ra >= 0 {
				mm, seen := st.retry[c]
				if !seen {
					mm = [2]int{ra, ra}
				}
				st.retry[c] = [2]int{min(mm[0], ra), max(mm[1], ra)}
			}
			if anyDlv {
				st.stillSent++
			}
			continue
		}
		st.ok++
		st.ack = append(st.ack, r.Ack[i]-r.Due[i])
		if all {
			st.delivered++
		} else {
			st.missing++
		}
		for _, d := range r.Dlv {
			if d[i] >= 0 {
				st.dlv = append(st.dlv, d[i]-r.Due[i])
			}
		}
	}
	start, end := r.Due[from], r.Due[to-1]+1000/rate
	for _, l := range r.Lost {
		at := float64(l.AtMs - r.StartedAtMs)
		if at >= start && (at < end || to == r.Sent) {
			st.lost = append(st.lost, l)
		}
	}
	slices.Sort(st.ack)
	slices.Sort(st.dlv)
	slices.Sort(st.lag)
	for _, v := range st.refusals {
		slices.Sort(v)
	}
	for _, v := range st.sentRefusals {
		slices.Sort(v)
	}
	return st
}

// pct is the p-th quantile of sorted values (NaN when empty).
func pct(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return math.NaN()
	}
	return sorted[int(math.Ceil(float64(len(sorted))*p))-1]
}

func (s stepStats) failed() int {
	n := 0
	for _, v := range s.failures {
		n += v
	}
	return n
}

// storedRate is the rate at which the step's messages were stored.
func (s stepStats) storedRate() float64 {
	if s.dur <= 0 {
		return 0
	}
	return float64(s.ok) / s.dur.Seconds()
}

// generatorBound reports whether the load client fell far enough behind
// its schedule to account for much of the latency.
func (s stepStats) generatorBound() bool {
	lag := pct(s.lag, .99)
	return lag > generatorLagP99 && lag > pct(s.ack, .99)/2
}

// sustained applies the definition above.
func (s stepStats) sustained() bool {
	return s.sent > 0 && s.failed() == 0 && s.missing == 0 && len(s.lost) == 0 &&
		pct(s.ack, .99) <= sustainAckP99 && pct(s.dlv, .99) <= sustainDlvP99
}

// segmentBounds is the first message index of each segment, plus the total.
func segmentBounds(segs []segment) []int {
	out := []int{0}
	n := 0
	for _, s := range segs {
		n += int(math.Floor(s.Rate * float64(s.Ms) / 1000))
		out = append(out, n)
	}
	return out
}

// recovery is how long after the burst's end the latency was back to
// normal: windowMs-wide windows of the messages due after the burst (by due
// time) are normal when none failed and their ack p99 and delivery p99 stay
// within max(2× the calm probe's p99, that p99 + 10 ms), and never above
// the sustained limits (sustainAckP99, sustainDlvP99), however slow the
// calm probe was. The answer is the end of the last abnormal window (0 when
// every window is normal); ok is false when the last window is still
// abnormal.
func recovery(r *runResult, calm stepStats, from, to int, windowMs float64) (after time.Duration, ok bool) {
	limit := func(p, ceiling float64) float64 {
		if math.IsNaN(p) {
			return ceiling
		}
		return min(max(2*p, p+10), ceiling)
	}
	ackLimit, dlvLimit := limit(pct(calm.ack, .99), sustainAckP99), limit(pct(calm.dlv, .99), sustainDlvP99)
	if from >= min(to, r.Sent) {
		return 0, false
	}
	t0 := r.Due[from]
	lastBad := -1.0
	endOfLast := 0.0
	for w := t0; w < r.Due[min(to, r.Sent)-1]+windowMs/2; w += windowMs {
		lo, hi := from, from
		for lo < to && lo < r.Sent && r.Due[lo] < w {
			lo++
		}
		hi = lo
		for hi < to && hi < r.Sent && r.Due[hi] < w+windowMs {
			hi++
		}
		if lo == hi {
			continue
		}
		st := stats(r, "window", 1000*float64(hi-lo)/windowMs, time.Duration(windowMs)*time.Millisecond, lo, hi)
		endOfLast = w + windowMs
		if st.failed() > 0 || st.missing > 0 || pct(st.ack, .99) > ackLimit || pct(st.dlv, .99) > dlvLimit {
			lastBad = w + windowMs
		}
	}
	if lastBad < 0 {
		return 0, true
	}
	return time.Duration((lastBad - t0) * float64(time.Millisecond)), lastBad < endOfLast
}
