package httpapi_test

import (
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/auth-service/internal/password"
)

// BenchmarkLogin measures POST /auth/login end to end (HTTP, internal-token
// check, argon2id at the OWASP parameters, session and refresh token
// written to PostgreSQL) with 4 clients logging in concurrently. It reports
// throughput and latency percentiles; it asserts nothing about speed.
//
//	go test -run '^$' -bench Login -benchtime 200x ./internal/httpapi/
func BenchmarkLogin(b *testing.B) {
	const clients = 4
	h := newHarness(b, password.OWASP, nil)
	bodies := make([]string, clients)
	for i := range clients {
		name := "bench" + strconv.Itoa(i)
		h.signup(b, name)
		bodies[i] = `{"login":"` + name + `","password":"` + goodPassword + `"}`
	}
	anon := h.anonymous(b) // valid for 30 s: refreshed per request below if the run is long

	var (
		next      atomic.Int64
		mu        sync.Mutex
		latencies = make([]time.Duration, 0, b.N)
		failed    atomic.Int64
		wg        sync.WaitGroup
	)
	b.ResetTimer()
	start := time.Now()
	for c := range clients {
		wg.Go(func() {
			local := make([]time.Duration, 0, b.N/clients+1)
			tok, minted := anon, time.Now()
			for next.Add(1) <= int64(b.N) {
				if time.Since(minted) > 20*time.Second {
					tok, minted = h.anonymous(b), time.Now()
				}
				t0 := time.Now()
				r := h.do(b, "POST", "/api/v1/auth/login", bodies[c], tok)
				local = append(local, time.Since(t0))
				if r.status != http.StatusOK {
					failed.Add(1)
				}
			}
			mu.Lock()
			latencies = append(latencies, local...)
			mu.Unlock()
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d logins failed", n, b.N)
	}
	slices.Sort(latencies)
	pct := func(p float64) time.Duration { return latencies[min(len(latencies)-1, int(float64(len(latencies))*p))] }
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "logins/s")
	b.ReportMetric(float64(pct(0.50).Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(pct(0.99).Microseconds())/1000, "p99-ms")
	b.ReportMetric(0, "ns/op") // per-op time is meaningless with 4 clients; see logins/s
}
