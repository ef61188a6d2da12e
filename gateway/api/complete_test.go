package api_test

import (
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/parleychat/parley/gateway/api"
)

// TestDocumentIsComplete holds the document to what client authors rely on:
// every operation has an id, an example for every body it takes or gives,
// the statuses every operation of its kind can answer, and the session
// cookie as a security scheme rather than a cookie parameter.
func TestDocumentIsComplete(t *testing.T) {
	var doc map[string]any
	if err := yaml.Unmarshal(api.OpenAPI, &doc); err != nil {
		t.Fatalf("openapi.yaml does not parse: %v", err)
	}
	components := doc["components"].(map[string]any)
	resolve := func(v any) map[string]any {
		m, _ := v.(map[string]any)
		if ref, ok := m["$ref"].(string); ok {
			parts := strings.Split(strings.TrimPrefix(ref, "#/components/"), "/")
			return components[parts[0]].(map[string]any)[parts[1]].(map[string]any)
		}
		return m
	}
	hasExample := func(media map[string]any) bool {
		_, one := media["example"]
		_, many := media["examples"]
		return one || many
	}
	for path, item := range doc["paths"].(map[string]any) {
		ops := item.(map[string]any)
		for method, raw := range ops {
			if method == "parameters" {
				continue
			}
			op := raw.(map[string]any)
			name := strings.ToUpper(method) + " " + path
			if op["operationId"] == nil {
				t.Errorf("%s has no operationId", name)
			}
			params, _ := op["parameters"].([]any)
			params = append(params, listOf(ops["parameters"])...)
			for _, p := range params {
				if resolve(p)["in"] == "cookie" {
					t.Errorf("%s takes a cookie parameter; cookies are security schemes", name)
				}
			}
			if body, ok := op["requestBody"].(map[string]any); ok {
				for mt, media := range body["content"].(map[string]any) {
					if !hasExample(media.(map[string]any)) {
						t.Errorf("%s request body %s has no example", name, mt)
					}
				}
				for _, code := range []string{"400", "413", "415"} {
					if _, ok := op["responses"].(map[string]any)[code]; !ok {
						t.Errorf("%s takes a body but documents no %s", name, code)
					}
				}
			}
			responses := op["responses"].(map[string]any)
			for code, r := range responses {
				for mt, media := range mapOf(resolve(r)["content"]) {
					if !hasExample(media.(map[string]any)) {
						t.Errorf("%s response %s %s has no example", name, code, mt)
					}
				}
			}
			want := []string{"500", "502", "503", "504"}
			if sec, ok := op["security"].([]any); !ok || len(sec) > 0 {
				want = append(want, "401")
			}
			if method != "get" {
				want = append(want, "403")
			}
			// The API documents are bytes the gateway holds: no upstream to fail.
			if path != "/openapi.yaml" && path != "/asyncapi.yaml" {
				for _, code := range want {
					if _, ok := responses[code]; !ok {
						t.Errorf("%s does not document %s", name, code)
					}
				}
			}
		}
	}
	for _, name := range []string{"TooManyRequests", "Unavailable"} {
		headers := mapOf(resolve(map[string]any{"$ref": "#/components/responses/" + name})["headers"])
		if _, ok := headers["Retry-After"]; !ok {
			t.Errorf("response %s documents no Retry-After header", name)
		}
	}
	session := mapOf(mapOf(components["securitySchemes"])["session"])
	if session["type"] != "apiKey" || session["in"] != "cookie" || session["name"] != "parley_session" {
		t.Errorf("security scheme session = %v, want apiKey in cookie parley_session", session)
	}
}

func mapOf(v any) map[string]any {
	m, _ := v.(map[string]any)
	return m
}

func listOf(v any) []any {
	l, _ := v.([]any)
	return l
}
