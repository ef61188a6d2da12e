package contract

import (
	"context"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// TestContract runs Schemathesis, every check and every phase, against a
// fresh stack and fails on any finding.
func TestContract(t *testing.T) {
	examples := envInt(t, "CONTRACT_EXAMPLES", 50)
	timeout := envDuration(t, "CONTRACT_TIMEOUT", 6*time.Minute)
	seed := envInt(t, "CONTRACT_SEED", rand.IntN(1<<31))
	exe := schemathesis(t)

	s := harness.Start(t, harness.Options{Env: map[string][]string{
		// Every generated request comes from 127.0.0.1: the per-address
		// throttles would otherwise soon answer the run's own sign-ins
		// with 429 (which the document allows, but which would leave the
		// rest of the run testing nothing but the throttle).
		"auth-service": {
			"LOGIN_FAILURES_PER_IP=1000000", "LOGIN_FAILURES_PER_ACCOUNT=1000000",
			"LOGIN_FAILURES_PER_ACCOUNT_IP=1000000", "SIGNUP_CONFLICTS_PER_IP=1000000",
			"MAX_SESSIONS_PER_ACCOUNT=1000000",
		},
	}})
	gw := s.Gateway()
	user := harness.NewClient(t, gw).SignUp()
	// A second account and a shared conversation give the run real ids
	// to find in answers (the stateful phase follows them).
	other := harness.NewClient(t, gw).SignUp()
	user.CreateDirect(other.UserID)

	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	report := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "--no-color", "--config-file", filepath.Join(dir, "schemathesis.toml"),
		"run", gw+"/api/v1/openapi.yaml",
		"--checks", "all",
		"--max-examples", strconv.Itoa(examples),
		"--seed", strconv.Itoa(seed),
		"--workers", "2",
		"--request-timeout", "30",
		"--header", "Origin: "+gw,
		"--suppress-health-check", "too_slow",
		"--generation-database", "none",
		"--report", "junit", "--report-dir", report)
	cmd.Dir = report
	cmd.Env = append(os.Environ(),
		"PYTHONPATH="+dir,
		"PYTHONDONTWRITEBYTECODE=1", // no __pycache__ in the source tree
		"SCHEMATHESIS_HOOKS=hooks",
		"PARLEY_CONTRACT_BASE="+gw,
		"PARLEY_CONTRACT_ORIGIN="+gw,
		"PARLEY_CONTRACT_LOGIN="+user.Login,
		"PARLEY_CONTRACT_PASSWORD="+user.Pass,
	)
	cmd.WaitDelay = 10 * time.Second
	start := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(start).Round(time.Second)
	if ctx.Err() != nil {
		t.Fatalf("schemathesis did not finish within %s (CONTRACT_TIMEOUT); output:\n%s", timeout, out)
	}
	t.Logf("contract figures: %s, %d examples per operation, seed %d, %s",
		summary(string(out)), examples, seed, took)
	if err != nil {
		t.Fatalf("schemathesis found problems (replay with CONTRACT_SEED=%d): %v\n%s", seed, err, out)
	}
}

// summary picks Schemathesis's figures out of its closing summary: the
// operations tested, the test cases generated and the failures found.
func summary(out string) string {
	var parts []string
	for _, re := range summaryFigures {
		if m := re.FindStringSubmatch(out); m != nil {
			parts = append(parts, strings.Join(strings.Fields(m[0]), " "))
		}
	}
	if len(parts) == 0 {
		return "no summary printed"
	}
	return strings.Join(parts, "; ")
}

var summaryFigures = []*regexp.Regexp{
	regexp.MustCompile(`Tested: \d+`),
	regexp.MustCompile(`\d+ generated, [^\n]*`),
	regexp.MustCompile(`=+ [^=\n]*(passed|failures?|errors?)[^=\n]* =+`),
}

// setting reads the environment variable name with parse, def when unset;
// a value parse refuses fails the test rather than being ignored.
func setting[T any](t *testing.T, name string, def T, want string, parse func(string) (T, bool)) T {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	got, ok := parse(v)
	if !ok {
		t.Fatalf("%s=%q: want %s", name, v, want)
	}
	return got
}

func envInt(t *testing.T, name string, def int) int {
	t.Helper()
	return setting(t, name, def, "a positive integer", func(v string) (int, bool) {
		n, err := strconv.Atoi(v)
		return n, err == nil && n > 0
	})
}

func envDuration(t *testing.T, name string, def time.Duration) time.Duration {
	t.Helper()
	return setting(t, name, def, "a positive duration such as 6m", func(v string) (time.Duration, bool) {
		d, err := time.ParseDuration(v)
		return d, err == nil && d > 0
	})
}
