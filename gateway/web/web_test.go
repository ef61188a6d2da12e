package web

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
)

func TestHandlerServesIndexAtRoot(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "<title>Parley") {
		t.Fatalf("GET / = %d %q, want the client's index.html", resp.StatusCode, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}
	resp, err = http.Get(srv.URL + "/web/missing.js")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET /web/missing.js = %d, want 404", resp.StatusCode)
	}
}

// TestClientModulesResolve follows the client's references from index.html
// (/web/ URLs) and every relative ES module import, and checks that each
// one is served as JavaScript or CSS: a renamed or missing module would
// otherwise only show in a browser.
func TestClientModulesResolve(t *testing.T) {
	srv := httptest.NewServer(Handler())
	defer srv.Close()
	get := func(path string) (string, string) {
		t.Helper()
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s = %d, want 200", path, resp.StatusCode)
		}
		return string(body), resp.Header.Get("Content-Type")
	}
	index, _ := get("/")
	queue := regexp.MustCompile(`(?:src|href)="(/web/[^"]+)"`).FindAllStringSubmatch(index, -1)
	if len(queue) < 2 {
		t.Fatalf("index.html references %d files under /web/, want the script and the stylesheet", len(queue))
	}
	imports := regexp.MustCompile(`(?m)^import .* from "(\./[^"]+)";`)
	seen := map[string]bool{}
	for len(queue) > 0 {
		path := queue[0][1]
		queue = queue[1:]
		if seen[path] {
			continue
		}
		seen[path] = true
		body, ct := get(path)
		switch {
		case strings.HasSuffix(path, ".css"):
			if !strings.HasPrefix(ct, "text/css") {
				t.Errorf("%s served as %q, want text/css", path, ct)
			}
		case strings.HasSuffix(path, ".js"):
			if !strings.HasPrefix(ct, "text/javascript") {
				t.Errorf("%s served as %q, want text/javascript (module scripts need it)", path, ct)
			}
			dir := path[:strings.LastIndex(path, "/")+1]
			for _, m := range imports.FindAllStringSubmatch(body, -1) {
				queue = append(queue, []string{"", dir + strings.TrimPrefix(m[1], "./")})
			}
		default:
			t.Errorf("index.html references %s, neither a module nor a stylesheet", path)
		}
	}
	if !seen["/web/vendor/socket.io.esm.min.js"] {
		t.Errorf("modules reached: %v; want the vendored Socket.IO client among them", seen)
	}
}
