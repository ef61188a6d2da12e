package harness

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Metrics reads the instance's Prometheus metrics from its ops address and
// returns every sample by series as written (`name{labels}`, or `name`
// without labels).
func (p *Process) Metrics() (map[string]float64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, p.OpsURL()+"/metrics", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s /metrics: status %d", p.Name, resp.StatusCode)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		if i < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			continue
		}
		out[line[:i]] = v
	}
	return out, sc.Err()
}

// Sum adds the samples of metric name over all its label sets (a series
// named exactly name, or name{...}).
func Sum(samples map[string]float64, name string) float64 {
	var total float64
	for series, v := range samples {
		if series == name || strings.HasPrefix(series, name+"{") {
			total += v
		}
	}
	return total
}

// StartWithin launches the binary and waits up to d for /readyz to answer
// 200, returning an error instead of failing the test, so that a goroutine
// other than the test's may restart an instance.
func (p *Process) StartWithin(d time.Duration) error {
	p.mu.Lock()
	cmd := command(p)
	if err := cmd.Start(); err != nil {
		p.mu.Unlock()
		return fmt.Errorf("start %s: %w", p.Name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	p.cmd, p.done = cmd, done
	p.mu.Unlock()
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for !p.Ready() {
		select {
		case <-done:
			return fmt.Errorf("%s exited before becoming ready; output:\n%s", p.Name, p.log.tail(4000))
		case <-deadline.C:
			return fmt.Errorf("%s not ready within %s; output:\n%s", p.Name, d, p.log.tail(4000))
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}

// Terminate sends SIGTERM and waits up to wait for the process to exit,
// returning how long it took; past wait it is killed and an error says so.
// Unlike Stop it does not fail the test, for goroutines other than the
// test's.
func (p *Process) Terminate(wait time.Duration) (time.Duration, error) {
	return p.signalWithin(syscall.SIGTERM, wait)
}

// KillNow sends SIGKILL and waits for the process to die, without failing
// the test (see Terminate).
func (p *Process) KillNow() error {
	_, err := p.signalWithin(syscall.SIGKILL, 10*time.Second)
	return err
}

func (p *Process) signalWithin(sig syscall.Signal, wait time.Duration) (time.Duration, error) {
	p.mu.Lock()
	cmd, done := p.cmd, p.done
	p.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return 0, fmt.Errorf("%s is not running", p.Name)
	}
	start := time.Now()
	select {
	case <-done:
		return 0, fmt.Errorf("%s had already exited", p.Name)
	default:
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
		return time.Since(start), nil
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
		return time.Since(start), fmt.Errorf("%s did not exit within %s after %v", p.Name, wait, sig)
	}
}

// Running reports whether the instance's process is alive.
func (p *Process) Running() bool {
	select {
	case <-p.exited():
		return false
	default:
		return true
	}
}

// ExitCode is the exit status of the last run (-1 while running or when
// killed by a signal).
func (p *Process) ExitCode() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.ProcessState == nil {
		return -1
	}
	return p.cmd.ProcessState.ExitCode()
}

// Replace makes the next start of the instance run bin, with env added
// after its own settings (a later value of a variable wins): a rolling
// upgrade stops an instance, replaces its binary and starts it again on the
// same address. It does not stop or start anything.
func (p *Process) Replace(bin string, env ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.bin = bin
	p.env = append(append([]string{}, p.env...), env...)
}
