package logging

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/olivere/elastic/v7"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/trace"
)

func esURL(t *testing.T) string {
	t.Helper()
	u := os.Getenv("ELASTICSEARCH_URL")
	if u == "" {
		t.Fatal("ELASTICSEARCH_URL is not set: run `scripts/infra up && source .local/env` first")
	}
	return u
}

// countLogs returns how many records of service carry traceID, per a real
// Elasticsearch query.
func countLogs(t *testing.T, url, service, traceID string) int64 {
	t.Helper()
	c, err := elastic.NewClient(elastic.SetURL(url), elastic.SetSniff(false), elastic.SetHealthcheck(false))
	if err != nil {
		t.Fatalf("elastic client: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, _ = c.Refresh(IndexPrefix + "*").Do(ctx)
	q := elastic.NewBoolQuery().Filter(
		elastic.NewTermQuery("service.name", service),
		elastic.NewTermQuery("trace.id", traceID),
	)
	n, err := c.Count(IndexPrefix + "*").Query(q).Do(ctx)
	if err != nil {
		var e *elastic.Error
		if errors.As(err, &e) && e.Status == http.StatusNotFound {
			return 0
		}
		t.Fatalf("count: %v", err)
	}
	return n
}

func waitForLogs(t *testing.T, url, service, traceID string, want int64, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	var got int64
	for time.Now().Before(deadline) {
		if got = countLogs(t, url, service, traceID); got >= want {
			return
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Fatalf("records for service %q trace %s in Elasticsearch = %d, want %d within %s", service, traceID, got, want, within)
}

// server runs a Gin app with the request logger whose /boom route fails.
func server(t *testing.T, l zerolog.Logger) *httptest.Server {
	t.Helper()
	gin.SetMode(gin.TestMode)
	r := gin.New()
	r.Use(Middleware(l, MiddlewareOptions{}))
	r.GET("/boom", func(c *gin.Context) {
		problem.Write(c, fmt.Errorf("load widget: %w", io.ErrUnexpectedEOF))
	})
	r.GET("/ok", func(c *gin.Context) { c.String(http.StatusOK, "ok") })
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func get(t *testing.T, url string, tc trace.Context) *http.Response {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set(trace.Header, tc.String())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func TestServerErrorIsSearchableInElasticsearch(t *testing.T) {
	url := esURL(t)
	service := "logtest-" + uuid.NewString()[:8]
	out := &syncBuffer{b: &bytes.Buffer{}}
	lg, err := New(Config{Service: service, Version: "test", Level: zerolog.InfoLevel, ElasticsearchURL: url, Stdout: out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeWithin(lg, 3*time.Second) })
	srv := server(t, lg.Logger)

	tc := trace.New()
	resp := get(t, srv.URL+"/boom", tc)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("status = %d, want 500", resp.StatusCode)
	}
	var body problem.Problem
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if body.TraceID != tc.TraceID || body.Detail == "" || bytes.Contains([]byte(body.Detail), []byte("widget")) {
		t.Fatalf("5xx body = %+v, want only the trace id %s and no internal detail", body, tc.TraceID)
	}
	waitForLogs(t, url, service, tc.TraceID, 1, 10*time.Second)

	// The record carries the ECS error fields an SRE searches by.
	c, _ := elastic.NewClient(elastic.SetURL(url), elastic.SetSniff(false), elastic.SetHealthcheck(false))
	res, err := c.Search(IndexPrefix + "*").Query(elastic.NewTermQuery("trace.id", tc.TraceID)).Do(context.Background())
	if err != nil || len(res.Hits.Hits) != 1 {
		t.Fatalf("search by trace.id: %v (%v hits)", err, res)
	}
	var doc map[string]any
	_ = json.Unmarshal(res.Hits.Hits[0].Source, &doc)
	for field, want := range map[string]any{
		"log.level": "error", "error.type": "*errors.errorString", "http.response.status_code": float64(500),
		"url.path": "/boom", "service.name": service,
	} {
		if doc[field] != want {
			t.Errorf("record[%q] = %v, want %v (record %v)", field, doc[field], want, doc)
		}
	}
	if msg, _ := doc["error.message"].(string); msg != "load widget: unexpected EOF" {
		t.Errorf("error.message = %q, want the wrapped cause", msg)
	}
	if !out.contains(tc.TraceID) {
		t.Errorf("stdout lacks the record for trace %s", tc.TraceID)
	}
}

// flakyProxy forwards TCP to Elasticsearch and can be cut, so the test sees a
// real outage from the shipper's side without stopping the shared server.
type flakyProxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	down   bool
	conns  []net.Conn
}

func newFlakyProxy(t *testing.T, target string) *flakyProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &flakyProxy{ln: ln, target: target}
	go p.serve()
	t.Cleanup(func() { ln.Close(); p.setDown(true) })
	return p
}

func (p *flakyProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.down {
			p.mu.Unlock()
			c.Close()
			continue
		}
		u, err := net.Dial("tcp", p.target)
		if err != nil {
			p.mu.Unlock()
			c.Close()
			continue
		}
		p.conns = append(p.conns, c, u)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(u, c); u.Close() }()
		go func() { _, _ = io.Copy(c, u); c.Close() }()
	}
}

func (p *flakyProxy) setDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
	if down {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}

func TestOutageKeepsRequestsFastAndLosesNothing(t *testing.T) {
	url := esURL(t)
	target := url[len("http://"):]
	proxy := newFlakyProxy(t, target)
	service := "logoutage-" + uuid.NewString()[:8]
	lg, err := New(Config{Service: service, Version: "test", Level: zerolog.InfoLevel,
		ElasticsearchURL: "http://" + proxy.ln.Addr().String(), Stdout: io.Discard, QueueSize: 1000, FlushInterval: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { closeWithin(lg, 3*time.Second) })
	srv := server(t, lg.Logger)

	proxy.setDown(true)
	tc := trace.New()
	const during = 200
	for i := 0; i < during; i++ {
		resp := get(t, srv.URL+"/ok", tc)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d during outage: status %d", i, resp.StatusCode)
		}
	}
	if st := lg.Shipper.Stats(); st.Dropped != 0 || st.Shipped != 0 {
		t.Fatalf("during outage stats = %+v, want nothing shipped or dropped", st)
	}
	proxy.setDown(false)
	waitForLogs(t, url, service, tc.TraceID, during, 20*time.Second)

	// Past the bound, records are dropped and counted, never blocking.
	proxy.setDown(true)
	tc2 := trace.New()
	for i := 0; i < 3000; i++ {
		get(t, srv.URL+"/ok", tc2)
	}
	if st := lg.Shipper.Stats(); st.Dropped == 0 {
		t.Fatalf("stats after overflowing a 1000-record queue = %+v, want drops counted", st)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  *bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) contains(sub string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Contains(s.b.Bytes(), []byte(sub))
}

func closeWithin(lg *Logging, d time.Duration) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	_ = lg.Close(ctx)
}
