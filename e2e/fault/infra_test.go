//go:build fault

package fault

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"testing"
	"time"

	"github.com/olivere/elastic/v7"

	"github.com/parleychat/parley/e2e/harness"
)

func TestFaultReadinessFollowsPostgres(t *testing.T) {
	s := harness.Start(t, harness.Options{})
	services := []*harness.Process{s.Auth, s.Users, s.Chats[0]}
	s.InfraCmd(t, "stop", "pg")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			s.InfraCmd(t, "start", "pg")
		}
	})
	for _, p := range services {
		harness.Eventually(t, 20*time.Second, p.Name+" unready without PostgreSQL", func() error {
			if st := p.ReadyStatus(); st != http.StatusServiceUnavailable {
				return fmt.Errorf("readyz %d", st)
			}
			return nil
		})
	}
	s.InfraCmd(t, "start", "pg")
	restarted = true
	for _, p := range services {
		harness.Eventually(t, 30*time.Second, p.Name+" ready again", func() error {
			if st := p.ReadyStatus(); st != http.StatusOK {
				return fmt.Errorf("readyz %d", st)
			}
			return nil
		})
	}
	// And it serves again, end to end.
	harness.NewClient(t, s.Gateway()).SignUp()
}

func TestFaultLoggingSurvivesElasticsearchOutage(t *testing.T) {
	s := harness.Start(t, harness.Options{Logs: true})
	c := harness.NewClient(t, s.Gateway()).SignUp()

	measure := func(n int) (lat []time.Duration, traces []string) {
		for i := 0; i < n; i++ {
			start := time.Now()
			r := c.Do(http.MethodGet, "/api/v1/auth/me", nil)
			d := time.Since(start)
			if r.Status != 200 {
				t.Fatalf("request %d: status %d", i, r.Status)
			}
			if d > 2*time.Second {
				t.Fatalf("request %d took %s: logging is blocking requests", i, d)
			}
			lat = append(lat, d)
			traces = append(traces, r.Header.Get("X-Trace-Id"))
		}
		return lat, traces
	}
	before, _ := measure(100)
	s.InfraCmd(t, "stop", "es")
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			s.InfraCmd(t, "start", "es")
		}
	})
	during, traces := measure(100)
	t.Logf("figures: GET /auth/me latency p50/p99 with Elasticsearch up %s/%s, down %s/%s (ratio p50 %.2f)",
		pct(before, 50), pct(before, 99), pct(during, 50), pct(during, 99),
		float64(pct(during, 50))/float64(pct(before, 50)))
	s.InfraCmd(t, "start", "es")
	restarted = true
	back := time.Now()

	es, err := elastic.NewClient(elastic.SetURL(s.Infra.ElasticsearchURL), elastic.SetSniff(false), elastic.SetHealthcheck(false))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	for _, tr := range traces {
		want[tr] = true
	}
	harness.Eventually(t, 60*time.Second, "outage records in Elasticsearch", func() error {
		_, _ = es.Refresh("parley-logs-*").Do(context.Background())
		terms := make([]any, 0, len(want))
		for tr := range want {
			terms = append(terms, tr)
		}
		q := elastic.NewBoolQuery().Filter(elastic.NewTermQuery("service.name", "gateway"), elastic.NewTermsQuery("trace.id", terms...))
		n, err := es.Count("parley-logs-*").Query(q).Do(context.Background())
		if err != nil {
			return err
		}
		if n < int64(len(want)) {
			return fmt.Errorf("%d of %d gateway records found", n, len(want))
		}
		return nil
	})
	t.Logf("figures: %d records logged during the outage reached Elasticsearch %s after it came back", len(want), time.Since(back).Round(100*time.Millisecond))
}

func pct(d []time.Duration, p int) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[(len(s)-1)*p/100]
}
