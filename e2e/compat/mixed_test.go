//go:build compat

package compat

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// release is the part of a releases/<module>.json entry these tests read.
type release struct {
	Version string `json:"version"`
	Commit  string `json:"commit"`
}

// previousRelease is the newest recorded release of service.
func previousRelease(t *testing.T, service string) release {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(harness.RepoRoot(), "releases", service+".json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct{ Releases []release }
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.Releases) == 0 {
		t.Fatalf("%s has no release", service)
	}
	return rec.Releases[len(rec.Releases)-1]
}

// buildPrevious rebuilds a service's recorded release from its recorded
// commit with scripts/release (which also checks the image digest against
// the record) and returns the binary.
func buildPrevious(t *testing.T, service string, rel release, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "bin", service)
	cmd := exec.Command(filepath.Join(harness.RepoRoot(), "scripts", "release"), service, rel.Version,
		"-no-record", "-out", filepath.Join(dir, "image-"+service), "-bin", bin)
	cmd.Dir = harness.RepoRoot()
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("rebuilding %s %s: %v\n%s", service, rel.Version, err, out)
	}
	return bin
}

// buildCurrent builds every service from the working tree, the same way
// the harness does, into dir/current.
func buildCurrent(t *testing.T, dir string) map[string]string {
	t.Helper()
	current := map[string]string{}
	for _, s := range harness.Services {
		bin := filepath.Join(dir, "current", s)
		cmd := exec.Command("go", "build", "-o", bin, "./cmd/"+s)
		cmd.Dir = filepath.Join(harness.RepoRoot(), s)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", s, err, out)
		}
		current[s] = bin
	}
	return current
}

// buildAllPrevious rebuilds the previous release of every service into
// dir: the binaries and the releases, by service.
func buildAllPrevious(t *testing.T, dir string) (map[string]string, map[string]release) {
	t.Helper()
	previous, versions := map[string]string{}, map[string]release{}
	for _, s := range harness.Services {
		versions[s] = previousRelease(t, s)
		previous[s] = buildPrevious(t, s, versions[s], dir)
	}
	return previous, versions
}

// envList reads a space-separated setting, or its default.
func envList(name string, def []string) []string {
	if v := strings.Fields(os.Getenv(name)); len(v) > 0 {
		return v
	}
	return def
}

// outcome is one suite run of one mix.
type outcome struct {
	mix             string
	passed, failed  int
	took            time.Duration
	failedTestNames []string
}

var (
	passLine = regexp.MustCompile(`(?m)^\s*--- PASS: (\S+)`)
	failLine = regexp.MustCompile(`(?m)^\s*--- FAIL: (\S+)`)
)

// runSuites runs the suites with the given binaries in place of the
// working tree's builds, in a test process of their own.
func runSuites(t *testing.T, mix string, bins map[string]string, suites []string, names []string) outcome {
	t.Helper()
	timeout := os.Getenv("COMPAT_SUITE_TIMEOUT")
	if timeout == "" {
		timeout = "20m"
	}
	args := []string{"test", "-count=1", "-p", "1", "-timeout", timeout, "-v"}
	args = append(args, "-run", "^("+strings.Join(names, "|")+")$")
	args = append(args, suites...)
	cmd := exec.Command("go", args...)
	cmd.Dir = filepath.Join(harness.RepoRoot(), "e2e")
	cmd.Env = os.Environ()
	for _, s := range harness.Services {
		cmd.Env = append(cmd.Env, harness.BinaryEnv(s)+"="+bins[s])
	}
	start := time.Now()
	out, err := cmd.CombinedOutput()
	o := outcome{mix: mix, took: time.Since(start)}
	o.passed = len(passLine.FindAll(out, -1))
	for _, m := range failLine.FindAllSubmatch(out, -1) {
		o.failedTestNames = append(o.failedTestNames, string(m[1]))
	}
	o.failed = len(o.failedTestNames)
	logFile := filepath.Join(os.TempDir(), "parley-compat-"+strings.ReplaceAll(mix, " ", "_")+".log")
	_ = os.WriteFile(logFile, out, 0o644)
	if err != nil || o.failed > 0 || o.passed == 0 {
		tail := out
		if i := bytes.LastIndex(out, []byte("--- FAIL")); i > 4000 {
			tail = out[i-4000:]
		}
		t.Errorf("%s: %v, %d passed, %d failed %v (full output: %s)\n%s", mix, err, o.passed, o.failed, o.failedTestNames, logFile, tail)
	}
	return o
}

var testFunc = regexp.MustCompile(`(?m)^func (Test\w+)\(`)

// suiteTests lists the top-level tests of the suites at commit ("" for the
// working tree) that match pattern.
func suiteTests(t *testing.T, commit string, suites []string, pattern *regexp.Regexp) []string {
	t.Helper()
	args := []string{"grep", "-h", "^func Test"}
	if commit != "" {
		args = append(args, commit)
	}
	args = append(args, "--")
	for _, s := range suites {
		args = append(args, filepath.Join("e2e", s)+"/*_test.go")
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = harness.RepoRoot()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("git %s: %v", strings.Join(args, " "), err)
	}
	var names []string
	for _, m := range testFunc.FindAllSubmatch(out, -1) {
		if n := string(m[1]); pattern.MatchString(n) && !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names
}

// TestMixedVersions runs the end-to-end flow and realtime suites (or
// COMPAT_SUITES, narrowed by COMPAT_RUN) with, for each service (or
// COMPAT_SERVICES), its previous release beside the current build of the
// others, then the current build of it beside the previous release of the
// others. Previous releases are rebuilt from their recorded commits.
func TestMixedVersions(t *testing.T) {
	suites := envList("COMPAT_SUITES", []string{"./flow/", "./realtime/"})
	services := envList("COMPAT_SERVICES", harness.Services)
	pattern := os.Getenv("COMPAT_RUN")
	match, err := regexp.Compile(pattern)
	if err != nil {
		t.Fatalf("COMPAT_RUN: %v", err)
	}
	dir := t.TempDir()

	current := buildCurrent(t, dir)
	previous, versions := buildAllPrevious(t, dir)

	// A mix runs the suites' tests that already existed at the previous
	// releases' commit: a later test may need a feature the release lacks
	// (the previous releases of all services share one commit here; with
	// several, the tests of the oldest are used).
	oldest := ""
	for _, s := range harness.Services {
		c := versions[s].Commit
		if oldest == "" || c == oldest {
			oldest = c
			continue
		}
		if isAncestor(t, c, oldest) {
			oldest = c
		}
	}
	names := suiteTests(t, oldest, suites, match)
	now := suiteTests(t, "", suites, match)
	if len(names) == 0 {
		t.Fatalf("no test of %v matches %q at %.12s", suites, pattern, oldest)
	}
	var newer []string
	for _, n := range now {
		if !slices.Contains(names, n) {
			newer = append(newer, n)
		}
	}

	var outcomes []outcome
	for _, s := range services {
		if !slices.Contains(harness.Services, s) {
			t.Fatalf("unknown service %q in COMPAT_SERVICES", s)
		}
		old := map[string]string{}
		for k, v := range current {
			old[k] = v
		}
		old[s] = previous[s]
		outcomes = append(outcomes, runSuites(t, fmt.Sprintf("%s %s (previous) with the others current", s, versions[s].Version), old, suites, names))

		mixed := map[string]string{}
		for k, v := range previous {
			mixed[k] = v
		}
		mixed[s] = current[s]
		outcomes = append(outcomes, runSuites(t, fmt.Sprintf("%s current with the others previous", s), mixed, suites, names))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "compat figures (suites %s, run %q): %d tests of %.12s; newer than the previous releases, not run: %v\n",
		strings.Join(suites, " "), pattern, len(names), oldest, newer)
	for _, s := range harness.Services {
		fmt.Fprintf(&b, "  previous %s = %s at %.12s\n", s, versions[s].Version, versions[s].Commit)
	}
	for _, o := range outcomes {
		fmt.Fprintf(&b, "  %-60s %4d passed %3d failed %7.1fs\n", o.mix, o.passed, o.failed, o.took.Seconds())
	}
	t.Log(b.String())
}

// isAncestor reports whether commit a is an ancestor of commit b.
func isAncestor(t *testing.T, a, b string) bool {
	t.Helper()
	cmd := exec.Command("git", "merge-base", "--is-ancestor", a, b)
	cmd.Dir = harness.RepoRoot()
	return cmd.Run() == nil
}
