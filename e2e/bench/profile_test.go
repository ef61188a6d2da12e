package bench

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// profileDir is BENCH_PROFILE: when set, every fixed step also takes a CPU
// profile and an allocation profile (what was allocated during the step)
// of the stack's first gateway and first chat-service from their ops
// addresses (net/http/pprof) for the step's length, saved there as
// <scenario>-<step>-<service>.pprof and ….allocs.pprof (read with `go tool
// pprof -top`, add -sample_index=alloc_space for the bytes allocated).
func profileDir() string { return os.Getenv("BENCH_PROFILE") }

// profileStep starts the profiles of one step and returns a function that
// waits for them; it does nothing without BENCH_PROFILE.
func profileStep(b *testing.B, s *harness.Stack, scenario, step string, d time.Duration) (wait func()) {
	return profileProcesses(b, map[string]*harness.Process{"gateway": s.Gateways[0], "chat-service": s.Chats[0]}, scenario, step, d)
}

// profileProcesses takes the profiles profileStep describes of procs
// (named by their keys) for d; it does nothing without BENCH_PROFILE.
func profileProcesses(b *testing.B, procs map[string]*harness.Process, scenario, step string, d time.Duration) (wait func()) {
	dir := profileDir()
	if dir == "" {
		return func() {}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatalf("BENCH_PROFILE: %v", err)
	}
	secs := max(1, int(d.Seconds()))
	var wg sync.WaitGroup
	for name, p := range procs {
		base := filepath.Join(dir, strings.ReplaceAll(fmt.Sprintf("%s-%s-%s", scenario, step, name), " ", "_"))
		for kind, file := range map[string]string{"profile": base + ".pprof", "allocs": base + ".allocs.pprof"} {
			wg.Go(func() {
				if err := fetchProfile(p.OpsURL(), kind, secs, file); err != nil {
					b.Errorf("profile %s: %v", file, err)
				}
			})
		}
	}
	return wg.Wait
}

// fetchProfile saves the profile of kind (profile for CPU, allocs) taken
// over secs seconds.
func fetchProfile(ops, kind string, secs int, file string) error {
	c := http.Client{Timeout: time.Duration(secs+30) * time.Second}
	resp, err := c.Get(fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", ops, kind, secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	f, err := os.Create(file)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
