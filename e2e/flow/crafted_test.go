package flow

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/uuid"
	"gopkg.in/yaml.v3"

	"github.com/parleychat/parley/e2e/harness"
)

// TestCraftedInputsNeverGive5xx sends a table of crafted inputs to every
// operation of the public OpenAPI document, one field, parameter or path
// segment at a time, with a signed-in user's cookies. Whatever the input, the
// answer is a client error or a success: never a 5xx (crafted text reaching
// PostgreSQL) and never a 3xx (a service redirect leaking through).
func TestCraftedInputsNeverGive5xx(t *testing.T) {
	s := harness.Start(t, harness.Options{})
	c := harness.NewClient(t, s.Gateway()).SignUp()
	peer := harness.NewClient(t, s.Gateway()).SignUp()
	convID := directWhenKnown(t, c, peer)
	var msg struct {
		ID string `json:"id"`
	}
	c.Do(http.MethodPost, "/api/v1/conversations/"+convID+"/messages", map[string]any{"clientMsgId": uuid.NewString(), "body": "hello"}).
		Expect(t, http.StatusCreated, "send a message").JSON(t, &msg)
	valid := map[string]string{"id": convID, "userId": peer.UserID, "messageId": msg.ID, "emoji": "👍"}

	ops := openAPIOperations(t)
	var sent, refused int
	check := func(what string, resp *http.Response, err error) {
		t.Helper()
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		sent++
		switch {
		case resp.StatusCode >= 500:
			t.Errorf("%s: %d %s", what, resp.StatusCode, body)
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			t.Errorf("%s: redirect %d to %q", what, resp.StatusCode, resp.Header.Get("Location"))
		case resp.StatusCode >= 400:
			refused++
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
				t.Errorf("%s: %d with Content-Type %q, want problem+json", what, resp.StatusCode, ct)
			}
		}
	}
	send := func(method, path, rawQuery string, body []byte, ua string) (*http.Response, error) {
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, s.Gateway()+"/api/v1"+path, rd)
		if err != nil {
			return nil, err
		}
		req.URL.RawQuery = rawQuery
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if method != http.MethodGet {
			req.Header.Set("Origin", s.Gateway())
		}
		if ua != "" {
			req.Header.Set("User-Agent", ua)
		}
		// Never follow: a 3xx is itself a finding.
		client := &http.Client{Jar: c.Jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
		return client.Do(req)
	}

	for _, op := range ops {
		if op.path == "/auth/logout" || op.path == "/auth/password" {
			continue // they end the session the rest of the table needs; covered below
		}
		// Path parameters, one at a time, the others valid.
		for _, p := range op.params {
			for _, bad := range craftedSegments {
				path := op.path
				for name, v := range valid {
					if name != p {
						path = strings.ReplaceAll(path, "{"+name+"}", v)
					}
				}
				path = strings.ReplaceAll(path, "{"+p+"}", bad)
				resp, err := send(op.method, path, "", op.minimalBody(), "")
				check(fmt.Sprintf("%s %s (path %s=%q)", op.method, op.path, p, bad), resp, err)
			}
		}
		path := op.path
		for name, v := range valid {
			path = strings.ReplaceAll(path, "{"+name+"}", v)
		}
		// Query parameters.
		if op.method == http.MethodGet {
			for _, q := range op.query {
				for _, bad := range craftedQueryValues() {
					resp, err := send(op.method, path, q+"="+bad, nil, "")
					check(fmt.Sprintf("%s %s (query %s=%s)", op.method, op.path, q, bad), resp, err)
				}
			}
		}
		// Body fields: every field of the document, so unknown ones are
		// tried too; raw bytes, since some inputs are not valid JSON text.
		if op.hasBody {
			for _, f := range op.fields {
				for _, bad := range craftedJSONValues {
					body := []byte(`{"` + f + `":` + bad + `}`)
					resp, err := send(op.method, path, "", body, "")
					check(fmt.Sprintf("%s %s (body %s=%s)", op.method, op.path, f, bad), resp, err)
				}
			}
		}
	}

	// A client whose User-Agent holds bytes that are not UTF-8 can still
	// sign up and log in (the header is stored with the session).
	ua := "Mozilla/5.0 \xff\xfe bad"
	name := "u" + uuid.NewString()[:8]
	body := fmt.Sprintf(`{"username":%q,"email":%q,"password":%q}`, name, name+"@example.com", "correct horse battery "+name)
	resp, err := send(http.MethodPost, "/auth/signup", "", []byte(body), ua)
	check("signup with a non-UTF-8 User-Agent", resp, err)
	if err == nil && resp.StatusCode != http.StatusCreated {
		t.Errorf("signup with a non-UTF-8 User-Agent: %d, want 201", resp.StatusCode)
	}
	login := fmt.Sprintf(`{"login":%q,"password":%q}`, name, "correct horse battery "+name)
	resp, err = send(http.MethodPost, "/auth/login", "", []byte(login), ua)
	check("login with a non-UTF-8 User-Agent", resp, err)
	if err == nil && resp.StatusCode != http.StatusOK {
		t.Errorf("login with a non-UTF-8 User-Agent: %d, want 200", resp.StatusCode)
	}
	for _, bad := range craftedJSONValues {
		resp, err := send(http.MethodPut, "/auth/password", "", []byte(`{"currentPassword":`+bad+`,"newPassword":`+bad+`}`), "")
		check("PUT /auth/password "+bad, resp, err)
	}
	t.Logf("%d operations, %d crafted requests, %d refused with a 4xx, none 5xx or 3xx", len(ops), sent, refused)
	if sent < 500 {
		t.Errorf("only %d crafted requests sent: the operation table was not read", sent)
	}
}

// craftedSegments are path-segment spellings that must never reach a
// database as they are.
var craftedSegments = []string{
	"urn:uuid:" + "0190f5a4-7b6c-7d8e-9f00-112233445566",
	"{0190f5a4-7b6c-7d8e-9f00-112233445566}",
	"0190F5A4-7B6C-7D8E-9F00-112233445566",
	"0190f5a47b6c7d8e9f00112233445566",
	"%00", "a%00b", "%FF%FE", "%E2%80%AE", "..%2F..%2Fauth%2Fme", "a%2Fb", "%2F",
	strings.Repeat("9", 4096), "-1", "0", "null", "%7B%7D",
}

// craftedQueryValues are query values: broken cursors, out-of-range numbers
// and text that is not storable.
func craftedQueryValues() []string {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	return []string{
		"%00", "%FF", "-1", "0", "1e99", "2284.0", "9223372036854775808", "-9223372036854775809",
		b64("\x00"), b64(`{"t":"99999-12-31T23:59:59Z","id":"x"}`), b64(`{"t":-62135596801,"id":"\u0000"}`),
		b64(`["\u0000",1e400]`), b64("null"), "!!!", strings.Repeat("A", 8192),
		b64(`{"v":"` + strings.Repeat("\\u0000", 10) + `"}`), b64("\xff\xfe"),
	}
}

// craftedJSONValues are JSON values (written raw into a body).
var craftedJSONValues = []string{
	`"a\u0000b"`, "\"\xff\xfe\"", `""`, `"urn:uuid:0190f5a4-7b6c-7d8e-9f00-112233445566"`, `1e400`, `-1`, `2284.0`,
	`9223372036854775808`, `[]`, `["\u0000"]`, `{}`, `null`, `true`, `"` + strings.Repeat("x", 70000) + `"`,
	`"\ud800"`, `[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]`,
}

type operation struct {
	method, path string
	params       []string // path parameters
	query        []string
	hasBody      bool
	fields       []string
}

// minimalBody is a body for requests whose path is the crafted part.
func (o operation) minimalBody() []byte {
	if o.hasBody {
		return []byte(`{}`)
	}
	return nil
}

// openAPIOperations reads every operation from the gateway's document, with
// its path and query parameters and its body's field names (plus one the
// document does not know).
func openAPIOperations(t *testing.T) []operation {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "gateway", "api", "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths      map[string]map[string]yaml.Node `yaml:"paths"`
		Components struct {
			Parameters map[string]struct {
				Name string `yaml:"name"`
				In   string `yaml:"in"`
			} `yaml:"parameters"`
		} `yaml:"components"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	var ops []operation
	for path, item := range doc.Paths {
		if path == "/openapi.yaml" {
			continue
		}
		for method, node := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				Parameters []struct {
					Ref  string `yaml:"$ref"`
					Name string `yaml:"name"`
					In   string `yaml:"in"`
				} `yaml:"parameters"`
				RequestBody yaml.Node `yaml:"requestBody"`
			}
			if err := node.Decode(&op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			o := operation{method: strings.ToUpper(method), path: path, hasBody: op.RequestBody.Kind != 0}
			for _, p := range op.Parameters {
				if p.In == "query" {
					o.query = append(o.query, p.Name)
				}
			}
			for _, seg := range strings.Split(path, "/") {
				if strings.HasPrefix(seg, "{") {
					o.params = append(o.params, strings.Trim(seg, "{}"))
				}
			}
			if o.hasBody {
				set := map[string]bool{"notInTheDocument": true}
				collectProperties(&op.RequestBody, set)
				for f := range set {
					o.fields = append(o.fields, f)
				}
				sort.Strings(o.fields)
			}
			ops = append(ops, o)
		}
	}
	sort.Slice(ops, func(i, j int) bool { return ops[i].path+ops[i].method < ops[j].path+ops[j].method })
	if len(ops) < 20 {
		t.Fatalf("read %d operations from the OpenAPI document, want all of them", len(ops))
	}
	return ops
}

// collectProperties adds every property name of the schemas under n.
func collectProperties(n *yaml.Node, into map[string]bool) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == "properties" && n.Content[i+1].Kind == yaml.MappingNode {
				props := n.Content[i+1]
				for j := 0; j+1 < len(props.Content); j += 2 {
					into[props.Content[j].Value] = true
				}
			}
			collectProperties(n.Content[i+1], into)
		}
		return
	}
	for _, c := range n.Content {
		collectProperties(c, into)
	}
}
