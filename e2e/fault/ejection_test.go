//go:build fault

package fault

import (
	"fmt"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// One of two user-service instances is SIGKILLed under steady reads: the
// gateway ejects it (its breaker opens), the reads go on through the other
// instance, and when the instance is back the gateway's probe lets it take
// its share again. A GET is idempotent and bodiless, so a connection that
// fails is retried on the other instance: a client sees no failure at all.
func TestFaultUserServiceInstanceEjectedAndProbedBack(t *testing.T) {
	s := harness.Start(t, harness.Options{UserServices: 2, AllUserServices: true})
	c := harness.NewClient(t, s.Gateway()).SignUp()
	harness.Eventually(t, 20*time.Second, "profile readable", func() error {
		if r, err := c.DoErr(http.MethodGet, "/api/v1/users/me", nil); err != nil || r.Status != http.StatusOK {
			return fmt.Errorf("GET /users/me: %v %v", r, err)
		}
		return nil
	})
	victim := s.UserServices[1]
	served := func(p *harness.Process) float64 {
		m, err := p.Metrics()
		if err != nil {
			t.Fatalf("%s metrics: %v", p.Name, err)
		}
		return harness.Sum(m, "parley_http_requests_total")
	}

	// Four readers for the whole test; failures are kept by status.
	var (
		stop     atomic.Bool
		ok       atomic.Int64
		mu       sync.Mutex
		failures = map[string]int{}
		readers  sync.WaitGroup
	)
	for range 4 {
		readers.Go(func() {
			for !stop.Load() {
				r, err := c.DoErr(http.MethodGet, "/api/v1/users/me", nil)
				switch {
				case err != nil:
					mu.Lock()
					failures[err.Error()]++
					mu.Unlock()
				case r.Status != http.StatusOK:
					mu.Lock()
					failures[fmt.Sprintf("%d %s", r.Status, r.Body)]++
					mu.Unlock()
				default:
					ok.Add(1)
				}
				time.Sleep(2 * time.Millisecond)
			}
		})
	}
	time.Sleep(time.Second)
	before := served(victim)
	if before == 0 {
		t.Fatalf("%s served nothing before the kill: the gateway does not spread reads over both instances", victim.Name)
	}
	victim.Kill()
	killed := time.Now()
	gw := s.Gateways[0]
	harness.Eventually(t, 10*time.Second, "the killed instance ejected", func() error {
		m, err := gw.Metrics()
		if err != nil {
			return err
		}
		if n := harness.Sum(m, "parley_gateway_upstream_ejections_total"); n < 1 {
			return fmt.Errorf("%v ejections", n)
		}
		return nil
	})
	ejectedAfter := time.Since(killed)
	okDuring := ok.Load()
	time.Sleep(2 * time.Second)
	if ok.Load()-okDuring < 100 {
		t.Errorf("only %d reads succeeded in the 2 s after the ejection", ok.Load()-okDuring)
	}

	victim.Start()
	harness.Eventually(t, 30*time.Second, "the restarted instance serving reads again", func() error {
		if n := served(victim); n < 50 {
			return fmt.Errorf("%v requests served since its restart", n)
		}
		return nil
	})
	back := time.Since(killed)
	stop.Store(true)
	readers.Wait()

	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for k, n := range failures {
		kinds = append(kinds, fmt.Sprintf("%d× %s", n, k))
	}
	sort.Strings(kinds)
	t.Logf("figures: %d reads ok; %s ejected %s after SIGKILL, serving again %s after it; failures: %v",
		ok.Load(), victim.Name, ejectedAfter.Round(time.Millisecond), back.Round(time.Millisecond), kinds)
	if len(failures) > 0 {
		t.Errorf("a client saw failures while one of two instances was down: %v", kinds)
	}
}
