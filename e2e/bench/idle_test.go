package bench

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
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
	gw := idleRSS(b, lc, s.Gateways[0].Pid(), sockets(s.Gateway()))

	plain, port := startPlainServer(b, strings.Split(s.Infra.SessionPublic, ",")[0])
	node := idleRSS(b, lc, plain.Process.Pid, sockets("http://127.0.0.1:"+port))

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
// every socket, lets it settle and reads the RSS again.
func idleRSS(b *testing.B, lc *loadClient, pid int, sockets []endpoint) idleMemory {
	b.Helper()
	lc.hold(b, sockets[:min(50, len(sockets))])
	lc.release(b)
	time.Sleep(3 * time.Second)
	m := idleMemory{before: rss(b, pid)}
	m.held = lc.hold(b, sockets)
	time.Sleep(5 * time.Second)
	m.after = rss(b, pid)
	lc.release(b)
	if m.held != len(sockets) {
		b.Errorf("%d of %d sockets connected", m.held, len(sockets))
	}
	return m
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
