package browser

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// jsDir holds the Node.js project with playwright-core.
var jsDir = filepath.Join(harness.RepoRoot(), "e2e", "browser", "js")

// scenarioTimeout bounds one scenario run, Chromium start included.
const scenarioTimeout = 90 * time.Second

// TestBrowser plays the client's scenarios against one stack: two users
// chatting both ways with typing, receipts, reactions, replies, edits and
// history; one going offline and catching up to exactly the other's view;
// the gateway restarting mid-conversation (last, as it restarts the
// stack's gateway).
func TestBrowser(t *testing.T) {
	chromium := findChromium(t)
	node := nodeWithPlaywright(t)
	stack := harness.Start(t, harness.Options{})
	shots := artifactsDir(t, "")
	t.Logf("screenshots in %s", shots)
	gw := stack.Gateways[0]
	for _, name := range []string{"chat", "offline", "restart"} {
		t.Run(name, func(t *testing.T) {
			runScenario(t, node, name, []string{
				"PARLEY_URL=" + stack.Gateway(), "CHROMIUM=" + chromium, "SCREENSHOTS=" + shots,
			}, map[string]func(){
				"stop-gateway":  gw.Stop,
				"start-gateway": gw.Start,
			})
		})
	}
}

// TestBrowserTokenExpiry runs the client on a stack whose session tokens
// live 6 s: the gateway closes each socket as its token expires, and the
// page must refresh its session over REST and reconnect by itself, without
// losing a message or sending its user back to the log-in form.
func TestBrowserTokenExpiry(t *testing.T) {
	chromium := findChromium(t)
	node := nodeWithPlaywright(t)
	stack := harness.Start(t, harness.Options{Env: map[string][]string{
		"auth-service": {"ACCESS_TOKEN_TTL=6s"},
	}})
	runScenario(t, node, "expiry", []string{
		"PARLEY_URL=" + stack.Gateway(), "CHROMIUM=" + chromium, "SCREENSHOTS=" + artifactsDir(t, "expiry"),
	}, nil)
}

// findChromium returns Debian's chromium (or CHROMIUM's value). Its
// absence fails the test: `make test` installs it (scripts/infra).
func findChromium(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	t.Fatal("chromium is not installed (scripts/infra up installs it: apt-get install chromium), or set CHROMIUM to its path")
	return ""
}

// nodeWithPlaywright checks for node and installs playwright-core from
// package-lock.json with npm ci when `make test` has not.
func nodeWithPlaywright(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (Node.js 20+ runs the browser scenarios): %v", err)
	}
	mod := filepath.Join(jsDir, "node_modules", "playwright-core")
	if _, err := os.Stat(mod); err != nil {
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = jsDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", jsDir, err, out)
		}
	}
	return node
}

// artifactsDir is where screenshots go: BROWSER_ARTIFACTS, else
// e2e/browser/artifacts (ignored by git), and sub within it; emptied first.
func artifactsDir(t *testing.T, sub string) string {
	t.Helper()
	dir := os.Getenv("BROWSER_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(harness.RepoRoot(), "e2e", "browser", "artifacts")
	}
	dir = filepath.Join(dir, sub)
	if sub == "" {
		// The whole folder belongs to TestBrowser's run, except the
		// other tests' subfolders.
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if !e.IsDir() {
				_ = os.Remove(filepath.Join(dir, e.Name()))
			}
		}
	} else if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// line is one line scenarios.mjs printed.
type line struct {
	Step       string   `json:"step"`
	Need       string   `json:"need"`
	Error      string   `json:"error"`
	PageErrors []string `json:"pageErrors"`
}

// runScenario runs one scenario, doing what it asks for on stdin (hooks)
// and failing with its last step and error.
func runScenario(t *testing.T, node, name string, env []string, hooks map[string]func()) {
	t.Helper()
	cmd := exec.Command(node, "scenarios.mjs", name)
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	timer := time.AfterFunc(scenarioTimeout, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var last line
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l line
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Logf("node: %s", sc.Text())
			continue
		}
		switch {
		case l.Need != "":
			hook, ok := hooks[l.Need]
			if !ok {
				t.Errorf("the scenario asked for %q, which the test does not offer", l.Need)
				_ = cmd.Process.Kill()
				break
			}
			t.Logf("%s (%.1fs)", l.Need, time.Since(start).Seconds())
			hook()
			_, _ = io.WriteString(stdin, "ok\n")
		case l.Step != "":
			t.Logf("%s: %s (%.1fs)", name, l.Step, time.Since(start).Seconds())
			last = l
		default:
			last = l
		}
	}
	err = cmd.Wait()
	if err != nil || last.Step != "done" {
		msg := last.Error
		if msg == "" {
			msg = fmt.Sprintf("exited (%v) after step %q", err, last.Step)
		}
		t.Fatalf("scenario %s failed after %.1fs: %s\n%s", name, time.Since(start).Seconds(), msg, strings.TrimSpace(stderr.String()))
	}
}
