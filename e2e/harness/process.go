package harness

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is one running service instance.
type Process struct {
	Name string
	Addr string // host:port it serves HTTP on
	// OpsAddr is its internal ops address: full /readyz, /metrics, pprof.
	OpsAddr string
	bin     string
	env     []string
	t       testing.TB

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *lockedBuffer
}

// OpsURL is the base URL of the instance's internal ops address.
func (p *Process) OpsURL() string { return "http://" + p.OpsAddr }

// URL is the instance's base HTTP URL.
func (p *Process) URL() string { return "http://" + p.Addr }

// Pid is the operating-system process id of the running instance (0 before
// it is started), for readers of /proc such as the benchmarks.
func (p *Process) Pid() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

// Start launches the binary and waits until /readyz answers 200.
func (p *Process) Start() {
	p.t.Helper()
	p.StartNoWait()
	p.WaitReady(60 * time.Second)
}

// StartNoWait launches the binary without waiting for readiness.
func (p *Process) StartNoWait() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	cmd := command(p)
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start %s: %v", p.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
}

// exec prepares one run of the instance's binary.
func command(p *Process) *exec.Cmd {
	cmd := exec.Command(p.bin)
	cmd.Env = append(os.Environ(), p.env...)
	cmd.Stdout = p.log
	cmd.Stderr = p.log
	return cmd
}

// WaitReady polls /readyz until it answers 200 or d passes.
func (p *Process) WaitReady(d time.Duration) {
	p.t.Helper()
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if p.Ready() {
			return
		}
		select {
		case <-p.exited():
			p.t.Fatalf("%s exited before becoming ready; output:\n%s", p.Name, p.log.tail(4000))
		case <-time.After(200 * time.Millisecond):
		}
	}
	p.t.Fatalf("%s not ready within %s; %s; output:\n%s", p.Name, d, p.readiness(), p.log.tail(4000))
}

// readiness says what the instance's public and ops /readyz answer now,
// to explain a wait that timed out.
func (p *Process) readiness() string {
	get := func(url string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2000))
		return fmt.Sprintf("%d %s", resp.StatusCode, body)
	}
	return fmt.Sprintf("/readyz: %s; ops /readyz: %s", get(p.URL()+"/readyz"), get(p.OpsURL()+"/readyz"))
}

// Ready reports whether /readyz answers 200 now.
func (p *Process) Ready() bool {
	return p.ReadyStatus() == http.StatusOK
}

// ReadyStatus returns /readyz's status code (0 when it does not answer).
func (p *Process) ReadyStatus() int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.URL()+"/readyz", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

func (p *Process) exited() <-chan struct{} {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.done == nil {
		c := make(chan struct{})
		close(c)
		return c
	}
	return p.done
}

// Kill sends SIGKILL and waits for the process to die.
func (p *Process) Kill() { p.signal(syscall.SIGKILL, 10*time.Second) }

// Stop sends SIGTERM and waits up to 30 s for a graceful exit.
func (p *Process) Stop() { p.signal(syscall.SIGTERM, 30*time.Second) }

func (p *Process) signal(sig syscall.Signal, wait time.Duration) {
	p.t.Helper()
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	select {
	case <-done:
		return
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
		p.t.Errorf("%s did not exit within %s after %v", p.Name, wait, sig)
	}
}

// Output returns the tail of what the process printed.
func (p *Process) Output() string { return p.log.tail(8000) }

// FreeAddr returns a loopback address with a port free at the moment and
// reserved for t: no other FreeAddr, in this test binary or another one
// running beside it, hands the port out again until t and its cleanups end.
//
// The port is bound later by the process it is for, so in between another
// socket could take it. Ports the kernel hands out for outgoing
// connections (ip_local_port_range, 32768–60999 by default) are avoided:
// the many client connections of a test run come from there, and one of
// them taking a service's port made it fail to start ("address already in
// use"). The reservation is an flock on a file per port, so it holds across
// the test binaries `go test` runs in parallel and ends with the process
// however it ends: before it, one stack got the same ops port for two
// instances (both were drawn before either was bound).
func FreeAddr(t testing.TB) string {
	t.Helper()
	if err := os.MkdirAll(reservationFile(""), 0o755); err != nil {
		t.Fatalf("free port: %v", err)
	}
	for range 1000 {
		port := freePortLow + rand.IntN(freePortHigh-freePortLow)
		lock, ok := reservePort(port)
		if !ok {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			_ = lock.Close()
			continue
		}
		addr := ln.Addr().String()
		_ = ln.Close()
		t.Cleanup(func() { _ = lock.Close() })
		return addr
	}
	t.Fatalf("free port: none free in %d–%d", freePortLow, freePortHigh)
	return ""
}

// reservationFile is the file whose lock reserves port ("" for their directory).
func reservationFile(port string) string {
	return filepath.Join(os.TempDir(), "parley-e2e-ports", port)
}

// reservePort takes the lock on port's file; closing the file releases it.
func reservePort(port int) (*os.File, bool) {
	f, err := os.OpenFile(reservationFile(fmt.Sprint(port)), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		_ = f.Close()
		return nil, false
	}
	return f, true
}

// The range FreeAddr draws from: below Linux's default ephemeral range.
const freePortLow, freePortHigh = 20000, 32768

// newProcess prepares an instance serving on addr, with an ops address of
// its own so that several instances of one service can run side by side.
func newProcess(t testing.TB, binDir, name, addr string, env []string) *Process {
	ops := FreeAddr(t)
	env = append([]string{"OPS_ADDR=" + ops}, env...)
	return &Process{Name: name, Addr: addr, OpsAddr: ops, bin: filepath.Join(binDir, serviceOf(name)), env: env, t: t, log: &lockedBuffer{}}
}

// serviceOf maps an instance name such as "chat-service-2" to its binary.
func serviceOf(name string) string {
	for _, s := range Services {
		if len(name) >= len(s) && name[:len(s)] == s {
			return s
		}
	}
	panic(fmt.Sprintf("unknown service instance %q", name))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 4<<20 { // keep memory bounded in long tests
		rest := l.b.Bytes()[l.b.Len()-(1<<20):]
		l.b.Reset()
		l.b.Write(rest)
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) tail(n int) string {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.b.Bytes()
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}
