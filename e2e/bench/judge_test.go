package bench

import (
	"math"
	"testing"
	"time"
)

// synthetic builds a run of n messages due every 10 ms, acked ackMs after
// they were due and delivered dlvMs after, with the given outcomes by index.
func synthetic(n int, ackMs, dlvMs func(i int) float64, code func(i int) string) *runResult {
	r := &runResult{Sent: n, Codes: []string{""}, Dlv: [][]float64{make([]float64, n)}}
	idx := map[string]int{"": 0}
	for i := range n {
		due := float64(i) * 10
		r.Due = append(r.Due, due)
		r.Lag = append(r.Lag, 0)
		r.Ack = append(r.Ack, due+ackMs(i))
		c := code(i)
		if _, ok := idx[c]; !ok {
			idx[c] = len(r.Codes)
			r.Codes = append(r.Codes, c)
		}
		r.Code = append(r.Code, idx[c])
		r.Retry = append(r.Retry, -1)
		if c == "" && dlvMs(i) >= 0 {
			r.Dlv[0][i] = due + dlvMs(i)
		} else {
			r.Dlv[0][i] = -1
		}
	}
	return r
}

func TestStepStats(t *testing.T) {
	const n = 200
	r := synthetic(n,
		func(i int) float64 { return float64(i%100) + 1 }, // 1..100 ms
		func(i int) float64 {
			if i == 7 {
				return -1
			}
			return 50
		},
		func(i int) string {
			switch {
			case i%50 == 3:
				return "503 overloaded"
			case i == 11:
				return "timeout"
			}
			return ""
		})
	r.Retry[3] = 100
	r.Retry[53] = 300
	// The 503s (due+4, +54, +4, +54 ms) were emitted 2, 50, 2 and 50 ms late.
	for _, i := range []int{3, 103} {
		r.Lag[i] = 2
	}
	for _, i := range []int{53, 153} {
		r.Lag[i] = 50
	}
	st := stats(r, "s", 100, 2*time.Second, 0, n)
	for _, tc := range []struct {
		what      string
		got, want float64
	}{
		{"sent", float64(st.sent), n},
		{"ok", float64(st.ok), n - 5},
		{"503s", float64(st.failures["503 overloaded"]), 4},
		{"timeouts", float64(st.failures["timeout"]), 1},
		{"missing", float64(st.missing), 1},
		{"delivered", float64(st.delivered), n - 6},
		{"stored/s", st.storedRate(), float64(n-5) / 2},
		{"ack max", pct(st.ack, 1), 100},
		{"dlv p99", pct(st.dlv, .99), 50},
		{"503 retry min", float64(st.retry["503 overloaded"][0]), 100},
		{"503 retry max", float64(st.retry["503 overloaded"][1]), 300},
		{"503 answered from when due, max", pct(st.refusals["503 overloaded"], 1), 54},
		{"503 answered from the emit, max", pct(st.sentRefusals["503 overloaded"], 1), 4},
		{"503 answered from the emit, p50", pct(st.sentRefusals["503 overloaded"], .5), 2},
	} {
		if tc.got != tc.want {
			t.Errorf("%s = %v, want %v", tc.what, tc.got, tc.want)
		}
	}
	if st.sustained() {
		t.Errorf("a step with failures counted as sustained")
	}
	// Only the first 3 messages: all ok and delivered, fast.
	if clean := stats(r, "clean", 100, 30*time.Millisecond, 0, 3); !clean.sustained() {
		t.Errorf("a clean step is not sustained: %+v", clean)
	}
}

func TestSustainedLimits(t *testing.T) {
	for _, tc := range []struct {
		name       string
		ack, dlv   float64
		wantSustai bool
	}{
		{"fast", 20, 40, true},
		{"ack at the limit", sustainAckP99, 40, true},
		{"ack over the limit", sustainAckP99 + 1, 40, false},
		{"delivery over the limit", 20, sustainDlvP99 + 1, false},
	} {
		r := synthetic(100, func(int) float64 { return tc.ack }, func(int) float64 { return tc.dlv }, func(int) string { return "" })
		if got := stats(r, tc.name, 100, time.Second, 0, 100).sustained(); got != tc.wantSustai {
			t.Errorf("%s: sustained = %v, want %v", tc.name, got, tc.wantSustai)
		}
	}
}

func TestRecovery(t *testing.T) {
	// 300 messages due every 10 ms: 0-99 calm (10 ms), 100-199 the burst,
	// 200-299 after it, slow (400 ms) until slowUntil.
	for _, tc := range []struct {
		name      string
		slowUntil int
		want      time.Duration
		wantOK    bool
	}{
		{"at once", 200, 0, true},
		{"after 0.5 s", 250, 500 * time.Millisecond, true},
		{"never", 300, 1000 * time.Millisecond, false},
	} {
		r := synthetic(300, func(i int) float64 {
			if i >= 100 && i < tc.slowUntil {
				return 400
			}
			return 10
		}, func(int) float64 { return 12 }, func(int) string { return "" })
		calm := stats(r, "calm", 100, time.Second, 0, 100)
		got, ok := recovery(r, calm, 200, 300, 250)
		if got != tc.want || ok != tc.wantOK {
			t.Errorf("%s: recovery = %v, %v; want %v, %v", tc.name, got, ok, tc.want, tc.wantOK)
		}
	}
}

func TestSegmentBounds(t *testing.T) {
	got := segmentBounds([]segment{{Rate: 200, Ms: 5000}, {Rate: 240, Ms: 5000}, {Rate: 333, Ms: 1500}})
	want := []int{0, 1000, 2200, 2699}
	if len(got) != len(want) {
		t.Fatalf("bounds = %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("bounds = %v, want %v", got, want)
		}
	}
}

func TestPct(t *testing.T) {
	var v []float64
	for i := 1; i <= 100; i++ {
		v = append(v, float64(i))
	}
	for _, tc := range []struct{ p, want float64 }{{.5, 50}, {.99, 99}, {1, 100}, {.001, 1}} {
		if got := pct(v, tc.p); got != tc.want {
			t.Errorf("pct(1..100, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if !math.IsNaN(pct(nil, .99)) {
		t.Errorf("pct of nothing should be NaN")
	}
}
