// Package kibana checks the Kibana saved objects in infra/kibana against the
// log index template and a real Elasticsearch: every reference resolves,
// every field they use is mapped, and every aggregation they chart runs.
package kibana

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/olivere/elastic/v7"

	"github.com/parleychat/parley/e2e/harness"
)

type savedObject struct {
	Type       string         `json:"type"`
	ID         string         `json:"id"`
	Attributes map[string]any `json:"attributes"`
	References []struct {
		Name string `json:"name"`
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"references"`
}

func load(t *testing.T) []savedObject {
	t.Helper()
	f, err := os.Open(filepath.Join(harness.RepoRoot(), "infra", "kibana", "saved-objects.ndjson"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []savedObject
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var o savedObject
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			t.Fatalf("line %d: %v", len(out)+1, err)
		}
		out = append(out, o)
	}
	return out
}

// templates maps each data view to the index template of its indices.
var templates = map[string]string{
	"parley-logs":    filepath.Join("shared", "logging", "index-template.json"),
	"parley-metrics": filepath.Join("shared", "metrics", "index-template.json"),
}

// dataView names the data view a saved object reads (its own id for a
// data view).
func dataView(o savedObject) string {
	if o.Type == "index-pattern" {
		return o.ID
	}
	for _, r := range o.References {
		if r.Type == "index-pattern" {
			return r.ID
		}
	}
	return ""
}

// mappedFields flattens an index template's properties to dotted names.
// Fields under a path_match dynamic template ("prometheus.metrics.*") are
// matched by prefix, recorded with a trailing "*".
func mappedFields(t *testing.T, template string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(harness.RepoRoot(), template))
	if err != nil {
		t.Fatal(err)
	}
	var tpl struct {
		Template struct {
			Mappings struct {
				Properties       map[string]any              `json:"properties"`
				DynamicTemplates []map[string]map[string]any `json:"dynamic_templates"`
			} `json:"mappings"`
		} `json:"template"`
	}
	if err := json.Unmarshal(b, &tpl); err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	var walk func(prefix string, props map[string]any)
	walk = func(prefix string, props map[string]any) {
		for name, v := range props {
			m := v.(map[string]any)
			if sub, ok := m["properties"].(map[string]any); ok {
				walk(prefix+name+".", sub)
				continue
			}
			out[prefix+name], _ = m["type"].(string)
		}
	}
	walk("", tpl.Template.Mappings.Properties)
	for _, dt := range tpl.Template.Mappings.DynamicTemplates {
		for _, d := range dt {
			if pm, ok := d["path_match"].(string); ok {
				m, _ := d["mapping"].(map[string]any)
				out[pm], _ = m["type"].(string)
			}
		}
	}
	return out
}

// mapped reports whether field is mapped, directly or by a path_match.
func mapped(fields map[string]string, field string) bool {
	if _, ok := fields[field]; ok {
		return true
	}
	for f := range fields {
		if prefix, ok := strings.CutSuffix(f, "*"); ok && strings.HasPrefix(field, prefix) {
			return true
		}
	}
	return false
}

var kqlField = regexp.MustCompile(`([a-z_@][a-z_.]*)\s*(?::|>|<)`)

func TestSavedObjectsAreConsistent(t *testing.T) {
	objs := load(t)
	byID := map[string]savedObject{}
	for _, o := range objs {
		byID[o.Type+"/"+o.ID] = o
	}
	for _, want := range []string{"index-pattern/parley-logs", "dashboard/parley-errors", "dashboard/parley-latency-dashboard",
		"index-pattern/parley-metrics", "dashboard/parley-performance"} {
		if _, ok := byID[want]; !ok {
			t.Errorf("missing saved object %s", want)
		}
	}
	for _, o := range objs {
		for _, r := range o.References {
			if _, ok := byID[r.Type+"/"+r.ID]; !ok {
				t.Errorf("%s/%s references missing %s/%s", o.Type, o.ID, r.Type, r.ID)
			}
		}
		var used []string
		if cols, ok := o.Attributes["columns"].([]any); ok {
			for _, c := range cols {
				used = append(used, c.(string))
			}
		}
		if meta, ok := o.Attributes["kibanaSavedObjectMeta"].(map[string]any); ok {
			var ss struct {
				Query struct{ Query string } `json:"query"`
			}
			_ = json.Unmarshal([]byte(meta["searchSourceJSON"].(string)), &ss)
			for _, m := range kqlField.FindAllStringSubmatch(ss.Query.Query, -1) {
				used = append(used, m[1])
			}
		}
		for _, agg := range aggs(t, o) {
			if f, ok := agg.Params["field"].(string); ok {
				used = append(used, f)
			}
		}
		if len(used) == 0 {
			continue
		}
		tpl, ok := templates[dataView(o)]
		if !ok {
			t.Errorf("%s/%s reads data view %q, which has no index template", o.Type, o.ID, dataView(o))
			continue
		}
		fields := mappedFields(t, tpl)
		for _, f := range used {
			if !mapped(fields, f) {
				t.Errorf("%s/%s uses field %q, which %s does not map", o.Type, o.ID, f, tpl)
			}
		}
	}
}

type visAgg struct {
	Type   string         `json:"type"`
	Schema string         `json:"schema"`
	Params map[string]any `json:"params"`
}

func aggs(t *testing.T, o savedObject) []visAgg {
	t.Helper()
	raw, ok := o.Attributes["visState"].(string)
	if !ok {
		return nil
	}
	var vs struct {
		Aggs []visAgg `json:"aggs"`
	}
	if err := json.Unmarshal([]byte(raw), &vs); err != nil {
		t.Fatalf("%s visState: %v", o.ID, err)
	}
	return vs.Aggs
}

// TestVisualizationsRunOnElasticsearch runs each chart's aggregations on the
// real log indices: a field mapped as text, say, would fail here as it would
// in Kibana.
func TestVisualizationsRunOnElasticsearch(t *testing.T) {
	url := harness.LoadInfra(t).ElasticsearchURL
	es, err := elastic.NewClient(elastic.SetURL(url), elastic.SetSniff(false), elastic.SetHealthcheck(false))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// Make sure each template and at least one document of each exist.
	day := time.Now().UTC().Format("2006.01.02")
	docs := map[string]map[string]any{
		"parley-logs": {"@timestamp": time.Now().UTC(), "log.level": "error", "service.name": "kibana-check",
			"event.dataset": "http.request", "event.duration": 1234567, "http.response.status_code": 500, "url.path": "/x"},
		"parley-metrics": {"@timestamp": time.Now().UTC(), "service": map[string]any{"name": "kibana-check"},
			"prometheus": map[string]any{"metrics": map[string]any{"parley_http_requests_total_rate": 12.5, "parley_outbox_lag_seconds": 0.02}}},
	}
	for view, file := range templates {
		tpl, err := os.ReadFile(filepath.Join(harness.RepoRoot(), file))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := es.IndexPutIndexTemplate(view).BodyString(string(tpl)).Do(ctx); err != nil {
			t.Fatalf("put template %s: %v", view, err)
		}
		if _, err := es.Index().Index(view + "-" + day).BodyJson(docs[view]).Refresh("true").Do(ctx); err != nil {
			t.Fatalf("index: %v", err)
		}
	}
	for _, o := range load(t) {
		as := aggs(t, o)
		if len(as) == 0 {
			continue
		}
		t.Run(o.ID, func(t *testing.T) {
			search := es.Search(dataView(o) + "-*").Size(0)
			for i, a := range as {
				name := a.Type + strings.Repeat("_", i)
				field, _ := a.Params["field"].(string)
				switch a.Type {
				case "count":
					continue
				case "percentiles":
					search = search.Aggregation(name, elastic.NewPercentilesAggregation().Field(field).Percentiles(50, 95, 99))
				case "avg":
					search = search.Aggregation(name, elastic.NewAvgAggregation().Field(field))
				case "max":
					search = search.Aggregation(name, elastic.NewMaxAggregation().Field(field))
				case "min":
					search = search.Aggregation(name, elastic.NewMinAggregation().Field(field))
				case "terms":
					search = search.Aggregation(name, elastic.NewTermsAggregation().Field(field).Size(10))
				case "date_histogram":
					search = search.Aggregation(name, elastic.NewDateHistogramAggregation().Field(field).FixedInterval("1m"))
				default:
					t.Fatalf("aggregation type %q not checked here", a.Type)
				}
			}
			if _, err := search.Do(ctx); err != nil {
				t.Fatalf("aggregations of %s fail on Elasticsearch: %v", o.ID, err)
			}
		})
	}
}
