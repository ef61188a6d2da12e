package compat

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// TestStampedVersionInHealthzAndLogs builds user-service with a version
// stamped by the linker, as a release does, runs it in a stack through the
// harness's per-service binary, and finds that version in its /healthz and
// in every log record it writes, while the others report their own.
func TestStampedVersionInHealthzAndLogs(t *testing.T) {
	const stamped = "9.8.7-compat"
	bin := filepath.Join(t.TempDir(), "user-service")
	build := exec.Command("go", "build", "-ldflags", "-X main.version="+stamped, "-o", bin, "./cmd/user-service")
	build.Dir = filepath.Join(harness.RepoRoot(), "user-service")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	t.Setenv(harness.BinaryEnv("user-service"), bin)
	s := harness.Start(t, harness.Options{})

	version := func(p *harness.Process) string {
		t.Helper()
		res, err := http.Get(p.URL() + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		var h struct{ Service, Version string }
		if res.StatusCode != http.StatusOK || json.Unmarshal(body, &h) != nil {
			t.Fatalf("%s /healthz: %d %s", p.Name, res.StatusCode, body)
		}
		return h.Version
	}
	if v := version(s.Users); v != stamped {
		t.Errorf("user-service /healthz version %q, want the stamped %q", v, stamped)
	}
	if v := version(s.Auth); v == stamped || v == "" {
		t.Errorf("auth-service /healthz version %q: not its own", v)
	}

	// A user's requests make user-service log beyond start-up.
	c := harness.NewClient(t, s.Gateway()).SignUp()
	harness.Eventually(t, 30*time.Second, "the profile", func() error {
		if r := c.Do(http.MethodGet, "/api/v1/users/me", nil); r.Status != http.StatusOK {
			return fmt.Errorf("GET /users/me: %d", r.Status)
		}
		return nil
	})
	deadline := time.Now().Add(10 * time.Second)
	for {
		records := 0
		sc := bufio.NewScanner(strings.NewReader(s.Users.Output()))
		for sc.Scan() {
			var rec map[string]any
			if json.Unmarshal(sc.Bytes(), &rec) != nil {
				continue // the tail may begin mid-line
			}
			records++
			if rec["service.version"] != stamped || rec["service.name"] != "user-service" {
				t.Fatalf("log record without the stamped version: %s", sc.Bytes())
			}
		}
		if records >= 4 {
			t.Logf("%d user-service log records, each with service.version %s", records, stamped)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %d log records from user-service:\n%s", records, s.Users.Output())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
