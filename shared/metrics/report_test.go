package metrics

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/olivere/elastic/v7"
	"github.com/prometheus/client_golang/prometheus"
)

// serve answers n requests, failing fails of them with a 500.
func serve(r *gin.Engine, n, fails int) {
	for i := range n {
		path := "/ok"
		if i < fails {
			path = "/boom"
		}
		r.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, path, nil))
	}
}

func app(reg prometheus.Registerer) *gin.Engine {
	r := gin.New()
	r.Use(HTTP(reg))
	r.GET("/ok", func(c *gin.Context) { c.Status(http.StatusOK) })
	r.GET("/boom", func(c *gin.Context) { c.Status(http.StatusInternalServerError) })
	return r
}

func TestDocumentCarriesTheIntervalsRates(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := app(reg)
	serve(r, 5, 0) // before the baseline: must not count
	rep := &Reporter{cfg: ReporterConfig{Service: "svc", Interval: 2 * time.Second}, reg: reg, prev: map[string]float64{}, prevH: map[string][]bucket{}}
	t0 := time.Unix(1_800_000_000, 0)
	if doc := rep.document(t0); doc != nil {
		t.Fatalf("baseline document = %s, want none", doc)
	}
	serve(r, 20, 4)
	doc := rep.document(t0.Add(2 * time.Second))
	var got struct {
		Service    struct{ Name string }
		Prometheus struct {
			Metrics map[string]float64 `json:"metrics"`
		}
	}
	if err := json.Unmarshal(doc, &got); err != nil {
		t.Fatal(err)
	}
	m := got.Prometheus.Metrics
	for key, want := range map[string]float64{
		"parley_http_requests_total_rate":           10, // 20 requests in 2 s
		"parley_http_5xx_total_rate":                2,
		"parley_http_request_duration_seconds_rate": 10,
	} {
		if m[key] != want {
			t.Errorf("%s = %v, want %v (document %s)", key, m[key], want, doc)
		}
	}
	if p99, ok := m["parley_http_request_duration_seconds_p99"]; !ok || p99 <= 0 || p99 > 0.0005 {
		t.Errorf("p99 = %v, want within the first bucket (fast in-memory handlers)", p99)
	}
}

func TestQuantileInterpolates(t *testing.T) {
	bs := []bucket{{0.1, 50}, {0.2, 100}, {1e308, 100}}
	if got := quantile(0.5, bs); got != 0.1 {
		t.Errorf("p50 = %v, want 0.1", got)
	}
	if got := quantile(0.75, bs); got < 0.149 || got > 0.151 {
		t.Errorf("p75 = %v, want 0.15", got)
	}
}

// TestReporterWritesToElasticsearch runs a reporter against the real
// Elasticsearch and finds its documents in parley-metrics-*.
func TestReporterWritesToElasticsearch(t *testing.T) {
	url := os.Getenv("ELASTICSEARCH_URL")
	if url == "" {
		t.Fatal("ELASTICSEARCH_URL is not set: run scripts/infra up and source .local/env")
	}
	reg := prometheus.NewRegistry()
	r := app(reg)
	service := "metricstest-" + uuid.NewString()[:8]
	rep, err := NewReporter(ReporterConfig{ElasticsearchURL: url, Service: service, Version: "t", Interval: 200 * time.Millisecond}, reg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { rep.Run(ctx, 3*time.Second); close(done) }()
	stop := time.Now().Add(2 * time.Second)
	for time.Now().Before(stop) {
		serve(r, 10, 1)
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	es, err := elastic.NewClient(elastic.SetURL(url), elastic.SetSniff(false), elastic.SetHealthcheck(false))
	if err != nil {
		t.Fatal(err)
	}
	_, _ = es.Refresh(IndexPrefix + "*").Do(context.Background())
	res, err := es.Search(IndexPrefix+"*").Query(elastic.NewTermQuery("service.name", service)).
		Aggregation("rps", elastic.NewAvgAggregation().Field("prometheus.metrics.parley_http_requests_total_rate")).
		Aggregation("p99", elastic.NewMaxAggregation().Field("prometheus.metrics.parley_http_request_duration_seconds_p99")).
		Size(0).Do(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.TotalHits() < 3 {
		t.Fatalf("documents = %d, want one per 200 ms over 2 s", res.TotalHits())
	}
	avg, _ := res.Aggregations.Avg("rps")
	if avg == nil || avg.Value == nil || *avg.Value < 50 {
		t.Errorf("average request rate = %v, want hundreds per second", avg)
	}
	if st := rep.Shipper().Stats(); st.Failed != 0 {
		t.Errorf("metric documents refused by Elasticsearch: %+v", st)
	}
}
