package bench

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// jsDir holds the load client: the official socket.io-client in Node.js.
var jsDir = filepath.Join(harness.RepoRoot(), "e2e", "bench", "js")

var npmOnce sync.Once

// nodeBinary finds node and makes sure socket.io-client is installed from
// package-lock.json (npm ci), failing the benchmark otherwise.
func nodeBinary(b *testing.B) string {
	b.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		b.Fatalf("node is not installed (Node.js 20+ runs the load client): %v", err)
	}
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "socket.io-client")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = jsDir
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Logf("npm ci in %s: %v\n%s", jsDir, err, out)
		}
	})
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "socket.io-client")); err != nil {
		b.Fatalf("socket.io-client is not installed in %s (run `npm ci` there): %v", jsDir, err)
	}
	return node
}

// endpoint is one socket the load client opens: a user's cookie on one
// gateway, and for a sender the conversation it writes to.
type endpoint struct {
	URL            string `json:"url"`
	Cookie         string `json:"cookie"`
	ConversationID string `json:"conversationId"` // a receiver: the conversation it receives from
}

// segment is a stretch of a run at one offered rate.
type segment struct {
	Rate float64 `json:"rate"`
	Ms   int64   `json:"ms"`
}

// guard stops a ramp at the end of a segment that clearly fell behind.
type guard struct {
	OutstandingSec float64 `json:"outstandingSec"`
	FailRatio      float64 `json:"failRatio"`
}

// lostSocket is a socket the server (or the network) closed.
type lostSocket struct {
	Role   string `json:"role"`
	Index  int    `json:"index"`
	Reason string `json:"reason"`
	AtMs   int64  `json:"atMs"`
}

// runResult is everything the load client recorded in one run, one entry
// per message (times in ms from the run's start; -1: never).
type runResult struct {
	Event        string       `json:"event"`
	Message      string       `json:"message"`
	Name         string       `json:"name"`
	StartedAtMs  int64        `json:"startedAtMs"`
	WallMs       float64      `json:"wallMs"`
	CPUMs        float64      `json:"cpuMs"`
	Sent         int          `json:"sent"`
	StoppedEarly bool         `json:"stoppedEarly"`
	Codes        []string     `json:"codes"`
	Due          []float64    `json:"due"`
	Lag          []float64    `json:"lag"`
	Ack          []float64    `json:"ack"`
	Code         []int        `json:"code"`
	Retry        []int        `json:"retry"`
	Dlv          [][]float64  `json:"dlv"`
	Duplicates   int          `json:"duplicates"`
	Foreign      int          `json:"foreign"`
	Lost         []lostSocket `json:"lost"`
	Senders      int          `json:"senders"`
	Receivers    int          `json:"receivers"`
	Sockets      int          `json:"sockets"`
	Ms           int          `json:"ms"`
}

// loadClient is the running Node process.
type loadClient struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	dec    *json.Decoder
	stderr *bytes.Buffer
}

func startLoadClient(b *testing.B) *loadClient {
	b.Helper()
	node := nodeBinary(b)
	cmd := exec.Command(node, "load.mjs")
	cmd.Dir = jsDir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	in, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatalf("start the load client: %v", err)
	}
	lc := &loadClient{cmd: cmd, in: in, dec: json.NewDecoder(out), stderr: &stderr}
	b.Cleanup(lc.close)
	return lc
}

// Pid is the load client's process id.
func (lc *loadClient) Pid() int { return lc.cmd.Process.Pid }

func (lc *loadClient) close() {
	_, _ = lc.in.Write([]byte(`{"cmd":"quit"}` + "\n"))
	_ = lc.in.Close()
	waitOrKill(lc.cmd, 10*time.Second)
}

// call sends one command and decodes the answer.
func (lc *loadClient) call(b *testing.B, cmd any) runResult {
	b.Helper()
	line, err := json.Marshal(cmd)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := lc.in.Write(append(line, '\n')); err != nil {
		b.Fatalf("load client: write: %v; stderr:\n%s", err, lc.stderr)
	}
	var r runResult
	if err := lc.dec.Decode(&r); err != nil {
		b.Fatalf("load client: read: %v; stderr:\n%s", err, lc.stderr)
	}
	if r.Event == "error" {
		b.Fatalf("load client: %s", r.Message)
	}
	return r
}

// connect opens more sockets, beside those already open, and waits until
// each has answered a command; it returns the senders now open.
func (lc *loadClient) connect(b *testing.B, senders, receivers []endpoint) int {
	b.Helper()
	r := lc.call(b, map[string]any{"cmd": "connect", "senders": senders, "receivers": receivers})
	if r.Event != "ready" || r.Senders < len(senders) || r.Receivers < len(receivers) {
		b.Fatalf("load client: connect answered %+v", r)
	}
	return r.Senders
}

// hold opens idle sockets and returns how many are connected.
func (lc *loadClient) hold(b *testing.B, sockets []endpoint) int {
	b.Helper()
	r := lc.call(b, map[string]any{"cmd": "hold", "sockets": sockets})
	if r.Event != "held" {
		b.Fatalf("load client: hold answered %q", r.Event)
	}
	return r.Sockets
}

// release closes every idle socket.
func (lc *loadClient) release(b *testing.B) {
	b.Helper()
	if r := lc.call(b, map[string]any{"cmd": "release"}); r.Event != "released" {
		b.Fatalf("load client: release answered %q", r.Event)
	}
}

// run sends the segments' schedule and returns what was recorded.
func (lc *loadClient) run(b *testing.B, name string, segs []segment, g *guard, p params) runResult {
	b.Helper()
	cmd := map[string]any{
		"cmd": "run", "name": name, "segments": segs,
		"ackTimeoutMs": p.AckTimeout.Milliseconds(), "drainMs": p.Drain.Milliseconds(),
	}
	if g != nil {
		cmd["guard"] = g
	}
	r := lc.call(b, cmd)
	if r.Event != "result" {
		b.Fatalf("load client: run %s answered %q", name, r.Event)
	}
	return r
}

// code is message i's outcome: "" when acked ok.
func (r *runResult) code(i int) string { return r.Codes[r.Code[i]] }

func (r *runResult) String() string { return fmt.Sprintf("%s: %d sent", r.Name, r.Sent) }
