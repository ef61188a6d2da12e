package metrics

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/shared/pgtest"
)

func TestHTTPRecordsRouteTemplatesNotPaths(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := gin.New()
	r.Use(HTTP(reg))
	r.GET("/users/:id", func(c *gin.Context) { c.Status(http.StatusOK) })
	for _, p := range []string{"/users/a", "/users/b", "/nowhere"} {
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, p, nil))
	}
	r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("BREW", "/users/a", nil))
	want := `
# HELP parley_http_requests_total HTTP requests answered, by route template, method and status code.
# TYPE parley_http_requests_total counter
parley_http_requests_total{code="200",method="GET",route="/users/:id"} 2
parley_http_requests_total{code="404",method="GET",route="unmatched"} 1
parley_http_requests_total{code="404",method="other",route="unmatched"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "parley_http_requests_total"); err != nil {
		t.Error(err)
	}
}

func TestCommandsBoundTheLabelSet(t *testing.T) {
	reg := prometheus.NewRegistry()
	c := NewCommands(reg, []string{"message:send"})
	c.Observe("message:send", "ok", time.Millisecond)
	c.Observe("made-up-by-a-client", "bad_request", time.Millisecond)
	if got := testutil.ToFloat64(c.total.WithLabelValues("unknown", "bad_request")); got != 1 {
		t.Errorf("unknown command counted %v times, want 1", got)
	}
	if n := testutil.CollectAndCount(c.total); n != 2 {
		t.Errorf("series = %d, want 2", n)
	}
}

func TestPoolAndOutboxCollectorsReadPostgres(t *testing.T) {
	pool := pgtest.New(t, "metrics", nil)
	if _, err := pool.Exec(context.Background(), outbox.Schema); err != nil {
		t.Fatal(err)
	}
	_, err := pool.Exec(context.Background(), `INSERT INTO outbox (id, exchange, routing_key, aggregate_id, payload, created_at)
		VALUES (gen_random_uuid(), 'x', 'k', 'a', '{}', now() - interval '3 seconds')`)
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	RegisterPool(reg, pool)
	RegisterOutbox(reg, pool)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch {
			case m.GetGauge() != nil:
				got[mf.GetName()] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				got[mf.GetName()] = m.GetCounter().GetValue()
			}
		}
	}
	if got["parley_outbox_backlog_events"] != 1 {
		t.Errorf("backlog = %v, want 1", got["parley_outbox_backlog_events"])
	}
	if lag := got["parley_outbox_lag_seconds"]; lag < 3 || lag > 60 {
		t.Errorf("lag = %v s, want about 3", lag)
	}
	if got["parley_pg_pool_max_connections"] < 1 || got["parley_pg_pool_acquires_total"] < 1 {
		t.Errorf("pool series = %v", got)
	}
}
