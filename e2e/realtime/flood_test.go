package realtime

import (
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// Default flood control of chat-service (MESSAGE_RATE, MESSAGE_BURST).
const (
	floodRate  = 10
	floodBurst = 20
	floodSends = 100
)

// checkFloodCounts fails unless some sends were refused and no more got
// through than the bucket allows in elapsed (burst + rate × elapsed, plus
// one for rounding).
func checkFloodCounts(t *testing.T, accepted, limited int, elapsed time.Duration) {
	t.Helper()
	t.Logf("%d sends in %s: %d accepted, %d rate limited", floodSends, elapsed.Round(time.Millisecond), accepted, limited)
	if limited == 0 {
		t.Errorf("none of %d sends was rate limited", floodSends)
	}
	if allowed := floodBurst + int(floodRate*elapsed.Seconds()) + 1; accepted > allowed {
		t.Errorf("%d sends accepted within %s, the limiter allows at most %d", accepted, elapsed, allowed)
	}
}

// floodREST sends 100 messages at once over REST as a fresh user: the
// excess gets 429 rate_limited with Retry-After, and a retry of a stored
// message is still answered (retries are never throttled).
func floodREST(t *testing.T, gw, other string) {
	f := harness.NewClient(t, gw).SignUp()
	id := f.CreateDirect(other).ID
	statuses := make([]*harness.Response, floodSends)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range 8 {
		wg.Go(func() {
			for i := w; i < floodSends; i += 8 {
				statuses[i] = f.DoRetrying(http.MethodPost, "/api/v1/conversations/"+id+"/messages",
					map[string]any{"clientMsgId": fmt.Sprintf("flood-%d", i), "body": "flood"})
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	accepted, limited, firstOK := 0, 0, -1
	for i, r := range statuses {
		switch r.Status {
		case http.StatusCreated:
			accepted++
			if firstOK < 0 {
				firstOK = i
			}
		case http.StatusTooManyRequests:
			limited++
			if p := r.Problem(t); p.Code != "rate_limited" || p.Status != http.StatusTooManyRequests {
				t.Errorf("429 problem = %+v, want code rate_limited", p)
			}
			if s, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || s < 1 {
				t.Errorf("429 Retry-After = %q, want a number of seconds ≥ 1", r.Header.Get("Retry-After"))
			}
		default:
			t.Errorf("send %d: status %d %s, want 201 or 429", i, r.Status, r.Body)
		}
	}
	checkFloodCounts(t, accepted, limited, elapsed)
	if firstOK >= 0 {
		f.Do(http.MethodPost, "/api/v1/conversations/"+id+"/messages",
			map[string]any{"clientMsgId": fmt.Sprintf("flood-%d", firstOK), "body": "flood"}).
			Expect(t, http.StatusOK, "retry of a stored message while limited")
	}
}

// floodSocket emits 100 sends without waiting as a fresh user: the excess
// is acknowledged {ok:false, error:{status:429, code:rate_limited}}.
func floodSocket(t *testing.T, gw, other string) {
	f := harness.NewClient(t, gw).SignUp()
	id := f.CreateDirect(other).ID
	sock := f.Connect()
	acks := make(chan harness.Ack, floodSends)
	start := time.Now()
	for i := range floodSends {
		sock.EmitAsync("message:send", map[string]any{"conversationId": id, "clientMsgId": fmt.Sprintf("sflood-%d", i), "body": "flood"},
			20*time.Second, func(a harness.Ack) { acks <- a })
	}
	accepted, limited := 0, 0
	for range floodSends {
		a := <-acks
		switch {
		case a.Err != nil:
			t.Errorf("no ack: %v", a.Err)
		case a.OK:
			accepted++
		case a.Error != nil && a.Error.Status == http.StatusTooManyRequests &&
			(a.Error.Code == "rate_limited" || a.Error.Code == "too_many_commands"),
			a.Error != nil && a.Error.Status == http.StatusServiceUnavailable && a.Error.Code == "overloaded":
			// Flood control, the per-user bound on queued commands that a
			// burst this fast meets first, or (on a busy machine) admission
			// control: each refuses the excess at once, retryably.
			limited++
		default:
			t.Errorf("ack %s, want ok, 429 rate_limited / too_many_commands or 503 overloaded", a)
		}
	}
	checkFloodCounts(t, accepted, limited, time.Since(start))
}
