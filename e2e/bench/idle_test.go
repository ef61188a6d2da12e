package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleSockets measures what an authenticated idle socket costs the
// gateway in memory: BENCH_IDLE_SOCKETS sockets (default 2,000; at most
// the gateway's default SOCKETS_PER_USER per user) opened by the load
// client, the gateway's RSS before and after; then the same sockets on a
// plain Node socket.io 4.8 server that authenticates the same cookies
// (js/plain-server.mjs). Run it once (-benchtime 1x).
//
// With BENCH_PROFILE set, the gateway's heap profile (after a GC), its
// goroutines and its metrics are also saved there from its ops address,
// before and after the sockets open
// (idle-{before,after}-{heap.pprof,goroutines.txt,metrics.txt}), and the
// goroutines, live heap and goroutine stacks per socket are printed. The
// forced GC may lower the RSS measured after it: quote RSS figures from a
// run without BENCH_PROFILE.
func BenchmarkIdleSockets(b *testing.B) {
	p := loadParams(b)
	n := envInt(b, "BENCH_IDLE_SOCKETS", 2000)
	perUser := 16
	if v, ok := configDefault("gateway/internal/config/config.go", "SOCKETS_PER_USER"); ok {
		if k, err := strconv.Atoi(v); err == nil && k > 0 {
			perUser = k
		}
	}
	s := startStack(b, p, 1, 1)
	users := signUp(b, s.Gateway(), (n+perUser-1)/perUser)
	sockets := func(url string) []endpoint {
		out := make([]endpoint, n)
		for i := range out {
			out[i] = endpoint{URL: url, Cookie: cookie(users[i/perUser])}
		}
		return out
	}
	lc := startLoadClient(b)
	var rt [2]goRuntime
	gw := idleRSS(b, lc, s.Gateways[0].Pid(), sockets(s.Gateway()), func(i int, phase string) {
		rt[i] = idleProfile(b, s.Gateways[0].OpsURL(), phase)
	})

	plain, port := startPlainServer(b, strings.Split(s.Infra.SessionPublic, ",")[0])
	node := idleRSS(b, lc, plain.Process.Pid, sockets("http://127.0.0.1:"+port), nil)

	w := os.Stdout
	fmt.Fprintf(w, "\n== idle authenticated sockets: %d over %d users (%d each), RSS before → after, settled 5 s ==\n", n, len(users), perUser)
	fmt.Fprintf(w, "%-34s %10s %10s %10s %12s\n", "server", "sockets", "RSS MB", "→ MB", "KB/socket")
	for _, r := range []struct {
		name string
		m    idleMemory
	}{{"gateway", gw}, {"plain Node socket.io 4.8 server", node}} {
		fmt.Fprintf(w, "%-34s %10d %10.1f %10.1f %12.1f\n", r.name, r.m.held, float64(r.m.before)/(1<<20), float64(r.m.after)/(1<<20), r.m.perSocket()/1024)
	}
	if node.perSocket() > 0 {
		fmt.Fprintf(w, "gateway / plain server: %.2f×\n", gw.perSocket()/node.perSocket())
	}
	if profileDir() != "" && gw.held > 0 {
		per := func(f func(goRuntime) float64) float64 { return (f(rt[1]) - f(rt[0])) / float64(gw.held) }
		fmt.Fprintf(w, "gateway per socket: %.2f goroutines, %.1f KB live heap, %.1f KB heap in use, %.1f KB stacks; profiles in %s\n",
			per(func(r goRuntime) float64 { return float64(r.goroutines) }),
			per(func(r goRuntime) float64 { return r.heapAlloc })/1024,
			per(func(r goRuntime) float64 { return r.heapInuse })/1024,
			per(func(r goRuntime) float64 { return r.stackInuse })/1024, profileDir())
	}
}

// idleMemory is a server's resident memory around holding idle sockets.
type idleMemory struct {
	held          int
	before, after int64 // bytes
}

func (m idleMemory) perSocket() float64 {
	if m.held == 0 {
		return 0
	}
	return float64(m.after-m.before) / float64(m.held)
}

// idleRSS warms the server with a few sockets, then reads its RSS, opens
// every socket, lets it settle and reads the RSS again; probe, if not nil,
// runs after each reading (0 "before", 1 "after").
func idleRSS(b *testing.B, lc *loadClient, pid int, sockets []endpoint, probe func(i int, phase string)) idleMemory {
	b.Helper()
	lc.hold(b, sockets[:min(50, len(sockets))])
	lc.release(b)
	time.Sleep(3 * time.Second)
	m := idleMemory{before: rss(b, pid)}
	if probe != nil {
		probe(0, "before")
	}
	m.held = lc.hold(b, sockets)
	time.Sleep(5 * time.Second)
	m.after = rss(b, pid)
	if probe != nil {
		probe(1, "after")
	}
	lc.release(b)
	if m.held != len(sockets) {
		b.Errorf("%d of %d sockets connected", m.held, len(sockets))
	}
	return m
}

// goRuntime is what a Go service's ops address tells of its memory.
type goRuntime struct {
	goroutines                       int
	heapAlloc, heapInuse, stackInuse float64 // bytes
}

// idleProfile saves the heap profile, the metrics and the goroutine dump
// of the process whose ops address is ops into BENCH_PROFILE, named for
// phase, and returns its runtime figures (after the profile's GC); without
// BENCH_PROFILE it does nothing.
func idleProfile(b *testing.B, ops, phase string) goRuntime {
	b.Helper()
	dir := profileDir()
	if dir == "" {
		return goRuntime{}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.Fatalf("BENCH_PROFILE: %v", err)
	}
	c := http.Client{Timeout: 30 * time.Second}
	get := func(path, file string) []byte {
		resp, err := c.Get(ops + path)
		if err != nil {
			b.Fatalf("profile %s: %v", path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("profile %s: status %d, %v", path, resp.StatusCode, err)
		}
		if err := os.WriteFile(filepath.Join(dir, "idle-"+phase+"-"+file), body, 0o644); err != nil {
			b.Fatalf("profile %s: %v", path, err)
		}
		return body
	}
	get("/debug/pprof/heap?gc=1", "heap.pprof")
	var r goRuntime
	for _, line := range strings.Split(string(get("/metrics", "metrics.txt")), "\n") {
		name, value, _ := strings.Cut(line, " ")
		v, _ := strconv.ParseFloat(value, 64)
		switch name {
		case "go_memstats_heap_alloc_bytes":
			r.heapAlloc = v
		case "go_memstats_heap_inuse_bytes":
			r.heapInuse = v
		case "go_memstats_stack_inuse_bytes":
			r.stackInuse = v
		}
	}
	dump := get("/debug/pprof/goroutine?debug=1", "goroutines.txt")
	// The dump starts "goroutine profile: total N".
	first, _, _ := strings.Cut(string(dump), "\n")
	n, err := strconv.Atoi(strings.TrimPrefix(first, "goroutine profile: total "))
	if err != nil {
		b.Fatalf("goroutine dump starts %q", first)
	}
	r.goroutines = n
	return r
}

// rss is a process's resident set size (VmRSS), in bytes.
func rss(b *testing.B, pid int) int64 {
	b.Helper()
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("read status of %d: %v", pid, err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseInt(f[1], 10, 64)
			return kb << 10
		}
	}
	b.Fatalf("no VmRSS for %d", pid)
	return 0
}

// startPlainServer runs js/plain-server.mjs and returns it and its port.
func startPlainServer(b *testing.B, sessionPublicKey string) (*exec.Cmd, string) {
	b.Helper()
	cmd := exec.Command(nodeBinary(b), "plain-server.mjs")
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), "PARLEY_SESSION_PUBLIC_KEY="+sessionPublicKey)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the plain server: %v", err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadBytes('\n')
	if err != nil {
		b.Fatalf("plain server: %v", err)
	}
	var l struct {
		Port int `json:"port"`
	}
	if err := json.Unmarshal(line, &l); err != nil || l.Port == 0 {
		b.Fatalf("plain server printed %q", line)
	}
	return cmd, strconv.Itoa(l.Port)
}
