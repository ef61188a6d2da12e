package httpapi

import (
	"math"
	"strconv"
	"testing"
	"time"
)

// TestLimiterAccuracy offers a key far more than its limit on a simulated
// clock: what is admitted over a window must be the burst plus
// rate×window (the ±5% the edge promises per instance; here exact to one
// request), the wait it reports must be when the next token is due, and
// one key's use must not touch another's.
func TestLimiterAccuracy(t *testing.T) {
	for _, perSecond := range []float64{0.5, 5, 50, 400} {
		l := newLimiter("user", perSecond)
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		l.now = func() time.Time { return now }
		window := 10 * time.Second
		step := time.Millisecond
		admitted := 0
		for at := time.Duration(0); at <= window; at += step {
			now = now.Add(step)
			d := l.wait("alice")
			if d == 0 {
				admitted++
				continue
			}
			if d > time.Duration(float64(time.Second)/perSecond)+time.Microsecond {
				t.Fatalf("%v/s: wait %s, longer than one token's refill", perSecond, d)
			}
		}
		want := math.Ceil(2*perSecond) + perSecond*window.Seconds()
		if math.Abs(float64(admitted)-want) > 1 {
			t.Errorf("%v/s: admitted %d over %s, want %.0f", perSecond, admitted, window, want)
		}
		if d := l.wait("bob"); d != 0 {
			t.Errorf("%v/s: another key waits %s, want 0", perSecond, d)
		}
	}
}

// TestLimiterForgetsIdleKeys fills the limiter with keys whose buckets
// refill: past limiterKeys the idle ones go, and a key in use keeps its
// count.
func TestLimiterForgetsIdleKeys(t *testing.T) {
	l := newLimiter("address", 1) // burst 2
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l.now = func() time.Time { return now }
	for i := range limiterKeys - 1 {
		l.wait("idle-" + strconv.Itoa(i))
	}
	now = now.Add(3 * time.Second) // every idle bucket is full again
	for range 2 {
		if d := l.wait("busy"); d != 0 {
			t.Fatalf("busy waits %s within its burst", d)
		}
	}
	l.wait("new") // over the bound: the idle keys go, busy (empty bucket) stays
	if len(l.keys) > 2 {
		t.Errorf("%d keys kept, want the busy and the new one only", len(l.keys))
	}
	if _, ok := l.keys["busy"]; !ok {
		t.Error("a key in use was forgotten")
	}
}
