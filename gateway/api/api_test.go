package api_test

import (
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/parleychat/parley/gateway/api"
	"github.com/parleychat/parley/gateway/internal/httpapi"
)

// TestDocumentMatchesRoutes keeps the OpenAPI document true: every route the
// gateway serves is described, and nothing described is missing.
func TestDocumentMatchesRoutes(t *testing.T) {
	var doc struct {
		OpenAPI string                    `yaml:"openapi"`
		Paths   map[string]map[string]any `yaml:"paths"`
	}
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Errorf("openapi = %q, want 3.x", doc.OpenAPI)
	}
	param := regexp.MustCompile(`:(\w+)`)
	var served []string
	for _, r := range httpapi.Routes() {
		method, path, _ := strings.Cut(r, " ")
		served = append(served, method+" "+param.ReplaceAllString(strings.TrimPrefix(path, "/api/v1"), "{$1}"))
	}
	served = append(served, "GET /openapi.yaml", "GET /asyncapi.yaml")
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
			fields, _ := op.(map[string]any)
			if _, ok := fields["responses"]; !ok {
				t.Errorf("%s %s has no responses", method, path)
			}
		}
	}
	slices.Sort(served)
	slices.Sort(documented)
	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("served but not documented: %s", r)
		}
	}
	for _, r := range documented {
		if !slices.Contains(served, r) {
			t.Errorf("documented but not served: %s", r)
		}
	}
}
