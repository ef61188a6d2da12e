package flow

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/olivere/elastic/v7"

	"github.com/parleychat/parley/e2e/harness"
)

// TestServerErrorIsFoundInElasticsearch makes the gateway fail for real
// (its upstream is gone) and finds the record an SRE would search for by
// service.name and the trace id the client was given.
func TestServerErrorIsFoundInElasticsearch(t *testing.T) {
	s := harness.Start(t, harness.Options{Logs: true})
	c := harness.NewClient(t, s.Gateway()).SignUp()
	s.Users.Stop()
	r := c.Do(http.MethodGet, "/api/v1/users/me", nil)
	if r.Status < 500 {
		t.Fatalf("GET /users/me with user-service down: status %d, want 5xx", r.Status)
	}
	var p struct {
		TraceID string `json:"traceId"`
		Detail  string `json:"detail"`
	}
	r.JSON(t, &p)
	if p.TraceID == "" {
		t.Fatalf("5xx body has no traceId: %s", r.Body)
	}
	es, err := elastic.NewClient(elastic.SetURL(s.Infra.ElasticsearchURL), elastic.SetSniff(false), elastic.SetHealthcheck(false))
	if err != nil {
		t.Fatal(err)
	}
	harness.Eventually(t, 10*time.Second, "the gateway's error record in Elasticsearch", func() error {
		ctx := context.Background()
		_, _ = es.Refresh("parley-logs-*").Do(ctx)
		q := elastic.NewBoolQuery().Filter(
			elastic.NewTermQuery("service.name", "gateway"),
			elastic.NewTermQuery("trace.id", p.TraceID),
			elastic.NewTermQuery("log.level", "error"))
		n, err := es.Count("parley-logs-*").Query(q).Do(ctx)
		if err != nil {
			return err
		}
		if n == 0 {
			return fmt.Errorf("no error record with trace.id %s yet", p.TraceID)
		}
		return nil
	})

	// Nothing any service logged was refused by the index mapping. The
	// shipper's figures are on the ops address only.
	for _, proc := range []*harness.Process{s.Auth, s.Chats[0], s.Gateways[0]} {
		resp, err := http.Get(proc.OpsURL() + "/readyz")
		if err != nil {
			t.Fatal(err)
		}
		var body struct {
			LogShipping *struct {
				Failed    int64  `json:"failed"`
				LastError string `json:"lastError"`
			} `json:"logShipping"`
		}
		_ = json.NewDecoder(resp.Body).Decode(&body)
		resp.Body.Close()
		if body.LogShipping == nil {
			t.Errorf("%s: ops /readyz reports no logShipping figures", proc.Name)
			continue
		}
		if body.LogShipping.Failed != 0 {
			t.Errorf("%s: %d log records rejected by Elasticsearch: %s", proc.Name, body.LogShipping.Failed, body.LogShipping.LastError)
		}
	}
}
