package bench

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// pair is one sender and one receiver sharing a direct conversation.
type pair struct {
	sender   *harness.Socket
	receiver *harness.Socket
	conv     string
}

// sample is one message's life: when it was due to be sent (latency counts
// from then, so a late sender does not hide queueing), its ack, and its
// delivery to the receiver.
type sample struct {
	due     time.Time
	ack     atomic.Int64 // unix nanos, 0 until acked
	deliver atomic.Int64 // unix nanos, 0 until delivered
	ok      atomic.Bool
	failure atomic.Value // string: the ack error, if any
}

// recorder matches receivers' message:new events to samples by clientMsgId.
type recorder struct {
	mu      sync.Mutex
	samples map[string]*sample
}

func newRecorder() *recorder { return &recorder{samples: make(map[string]*sample)} }

// onEvent is every receiver socket's OnEvent hook.
func (r *recorder) onEvent(e harness.SocketEvent) {
	if e.Name != "message:new" {
		return
	}
	var m struct {
		ClientMsgID string `json:"clientMsgId"`
	}
	if json.Unmarshal(e.Data, &m) != nil {
		return
	}
	r.mu.Lock()
	s := r.samples[m.ClientMsgID]
	r.mu.Unlock()
	if s != nil {
		s.deliver.CompareAndSwap(0, e.At.UnixNano())
	}
}

// step is the outcome of sending at one rate.
type step struct {
	name       string
	rate       float64 // offered messages/s
	sent       int
	acked      int // ok acks
	failed     int // error acks or none
	delivered  int
	ack        []time.Duration
	deliver    []time.Duration
	span       time.Duration // first due → last ok ack
	lagAtEnd   int           // acks outstanding when the last message was sent
	failures   map[string]int
	sendWindow time.Duration
	lost       []string // sockets disconnected by the end of the step
	clientCPU  float64  // this process's CPU time over the step's wall time (1 = one core)
}

// cpuTime is the CPU time this process (the load generator) has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// persisted is the rate at which messages were stored (acked ok).
func (s step) persisted() float64 {
	if s.span <= 0 {
		return 0
	}
	return float64(s.acked) / s.span.Seconds()
}

// drive sends rate messages per second for d, round robin over pairs, and
// waits (up to drain) for every ack and delivery.
func (r *recorder) drive(name string, pairs []pair, rate float64, d, drain time.Duration) step {
	n := int(rate * d.Seconds())
	samples := make([]*sample, n)
	var acks atomic.Int64
	cpu0 := cpuTime()
	start := time.Now().Add(20 * time.Millisecond)
	for i := range n {
		due := start.Add(time.Duration(float64(i) / rate * float64(time.Second)))
		if w := time.Until(due); w > 0 {
			time.Sleep(w)
		}
		p := pairs[i%len(pairs)]
		key := fmt.Sprintf("%s-%d", name, i)
		s := &sample{due: due}
		samples[i] = s
		r.mu.Lock()
		r.samples[key] = s
		r.mu.Unlock()
		p.sender.EmitAsync("message:send", map[string]any{
			"conversationId": p.conv, "clientMsgId": key,
			"body": "benchmark message " + key + ": the quick brown fox jumps over the lazy dog",
		}, 30*time.Second, func(a harness.Ack) {
			now := time.Now().UnixNano()
			switch {
			case a.Err != nil:
				s.failure.Store(a.Err.Error())
			case !a.OK:
				code := "?"
				if a.Error != nil {
					code = fmt.Sprintf("%d %s", a.Error.Status, a.Error.Code)
				}
				s.failure.Store(code)
			default:
				s.ok.Store(true)
			}
			s.ack.Store(now)
			acks.Add(1)
		})
	}
	st := step{name: name, rate: rate, sent: n, sendWindow: time.Since(start), failures: map[string]int{}}
	st.lagAtEnd = n - int(acks.Load())

	deadline := time.Now().Add(drain)
	for time.Now().Before(deadline) {
		done := int(acks.Load()) == n
		for _, s := range samples {
			if s.ok.Load() && s.deliver.Load() == 0 {
				done = false
				break
			}
		}
		if done {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	st.clientCPU = float64(cpuTime()-cpu0) / float64(time.Since(start))
	var last int64
	for _, s := range samples {
		at := s.ack.Load()
		switch {
		case at == 0:
			st.failed++
			st.failures["no ack"]++
			continue
		case !s.ok.Load():
			st.failed++
			st.failures[fmt.Sprint(s.failure.Load())]++
			continue
		}
		st.acked++
		last = max(last, at)
		st.ack = append(st.ack, time.Duration(at-s.due.UnixNano()))
		if dl := s.deliver.Load(); dl != 0 {
			st.delivered++
			st.deliver = append(st.deliver, time.Duration(dl-s.due.UnixNano()))
		}
	}
	if last > 0 {
		st.span = time.Duration(last - start.UnixNano())
	}
	slices.Sort(st.ack)
	slices.Sort(st.deliver)
	r.mu.Lock()
	for i := range n {
		delete(r.samples, fmt.Sprintf("%s-%d", name, i))
	}
	r.mu.Unlock()
	return st
}

// pct is the p-th percentile of sorted durations (0 when empty).
func pct(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted)-1) * p)
	return sorted[i]
}

// sustained reports whether the system kept up with the offered rate:
// every message stored, at least 95% of the rate, acks not piling up
// (fewer than half a second's worth outstanding when sending stopped) and
// a p99 ack under a second.
func (s step) sustained() bool {
	return s.failed == 0 && len(s.lost) == 0 && s.persisted() >= 0.95*s.rate &&
		float64(s.lagAtEnd) < s.rate/2 && pct(s.ack, 0.99) < time.Second
}
