package realtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleychat/parley/e2e/harness"
)

// jsDir holds the Node.js project with the official socket.io-client.
var jsDir = filepath.Join(harness.RepoRoot(), "e2e", "realtime", "js")

var npmOnce sync.Once

// nodeClient checks that node is installed and socket.io-client is in
// node_modules (installing it from package-lock.json with npm ci when
// `make test` has not), failing the test otherwise.
func nodeClient(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("node is not installed (Node.js 20+ is needed for the socket.io-client interop test): %v", err)
	}
	npmOnce.Do(func() {
		if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "socket.io-client")); err == nil {
			return
		}
		cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
		cmd.Dir = jsDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("npm ci in %s: %v\n%s", jsDir, err, out)
		}
	})
	if _, err := os.Stat(filepath.Join(jsDir, "node_modules", "socket.io-client")); err != nil {
		t.Fatalf("socket.io-client is not installed in %s (run `npm ci` there): %v", jsDir, err)
	}
	return node
}

// jsLine is one line the Node client printed.
type jsLine struct {
	Event     string          `json:"event"`
	Name      string          `json:"name"`
	Payload   json.RawMessage `json:"payload"`
	Ack       harness.Ack     `json:"ack"`
	Transport string          `json:"transport"`
	Message   string          `json:"message"`
	Data      struct {
		Code string `json:"code"`
	} `json:"data"`
}

// runNode runs client.mjs with env, calling onLine for each printed line
// as it comes, and returns every line and the exit error.
func runNode(t *testing.T, node string, env []string, onLine func(jsLine)) ([]jsLine, error) {
	t.Helper()
	cmd := exec.Command(node, "client.mjs")
	cmd.Dir = jsDir
	cmd.Env = append(os.Environ(), env...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start node: %v", err)
	}
	timer := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	defer timer.Stop()
	var lines []jsLine
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var l jsLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Errorf("node printed a line that is not JSON: %s", sc.Text())
			continue
		}
		lines = append(lines, l)
		if onLine != nil {
			onLine(l)
		}
	}
	err = cmd.Wait()
	if err != nil || t.Failed() {
		t.Logf("node stderr:\n%s", stderr.String())
	}
	return lines, err
}

// TestOfficialJavaScriptClient: the official socket.io-client (npm) in
// Node.js connects through the gateway with the session cookie (over
// WebSocket, over long-polling, and upgrading from one to the other), sends
// a message with an ack, and receives deliveries: its own message and one
// from a Go client, each once. Without a cookie, with a forged one, or from
// a foreign Origin it gets connect_error.
func TestOfficialJavaScriptClient(t *testing.T) {
	t.Parallel()
	node := nodeClient(t)
	s := harness.Start(t, harness.Options{Env: relaxed})
	gw := s.Gateway()
	a := harness.NewClient(t, gw).SignUp()
	b := harness.NewClient(t, gw).SignUp()
	sb := b.Connect()
	id := a.CreateDirect(b.UserID).ID
	base := []string{"PARLEY_URL=" + gw, "PARLEY_ORIGIN=" + gw}

	for _, tc := range []struct {
		name       string
		transports string
		upgrade    bool
	}{
		{"websocket", "websocket", false},
		{"long-polling", "polling", false},
		{"polling then upgrade", "polling,websocket", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key, body, fromGo := uuid.NewString(), "from node over "+tc.name, "from go to node over "+tc.name
			env := append(base[:len(base):len(base)],
				"PARLEY_COOKIE="+harness.SessionCookie+"="+a.Session(),
				"PARLEY_TRANSPORTS="+tc.transports,
				"PARLEY_UPGRADE="+map[bool]string{true: "true", false: "false"}[tc.upgrade],
				"PARLEY_CONVERSATION="+id, "PARLEY_CLIENT_MSG_ID="+key, "PARLEY_BODY="+body, "PARLEY_EXPECT_BODY="+fromGo)
			lines, err := runNode(t, node, env, func(l jsLine) {
				if l.Event == "connected" {
					send(t, sb, id, fromGo)
				}
			})
			if err != nil {
				t.Fatalf("node client failed: %v; output %+v", err, lines)
			}
			var ack *harness.Ack
			counts := map[string]int{}
			final := ""
			for _, l := range lines {
				switch l.Event {
				case "ack":
					ack = &l.Ack
				case "received":
					if l.Name == "message:new" {
						var m harness.Message
						if err := json.Unmarshal(l.Payload, &m); err != nil {
							t.Fatal(err)
						}
						counts[m.Body]++
					}
				case "done":
					final = l.Transport
				}
			}
			if ack == nil || !ack.OK || ack.Message == nil || ack.Message.ClientMsgID != key || ack.Message.Body != body || ack.Message.SenderID != a.UserID {
				t.Errorf("node's ack = %+v, want ok with its message from %s", ack, a.UserID)
			}
			if counts[body] != 1 || counts[fromGo] != 1 {
				t.Errorf("node received message:new %v, want its own and the Go client's once each", counts)
			}
			t.Logf("node: ack ok=%v, deliveries %v, transport at the end %q", ack != nil && ack.OK, counts, final)
			want := strings.Split(tc.transports, ",")[0]
			if tc.upgrade {
				want = "websocket"
			}
			if final != want {
				// An upgrade is best effort for the client; report rather
				// than judge when it has not happened yet.
				if tc.upgrade {
					t.Logf("transport at the end = %q (upgrade not finished)", final)
				} else {
					t.Errorf("transport at the end = %q, want %q", final, want)
				}
			}
			sb.WaitUntil(15*time.Second, "the Go client receives node's message", func(evs []harness.SocketEvent) bool {
				for _, e := range sb.Named("message:new") {
					var m harness.Message
					e.Decode(t, &m)
					if m.ClientMsgID == key {
						return true
					}
				}
				return false
			})
		})
	}

	for _, tc := range []struct {
		name, cookie, origin, code string
	}{
		{"no cookie", "", gw, ""},
		{"forged session cookie", harness.SessionCookie + "=not.a.token", gw, "unauthorized"},
		{"foreign origin", harness.SessionCookie + "=" + a.Session(), "https://evil.example", ""},
	} {
		for _, transports := range []string{"polling,websocket", "websocket"} {
			t.Run("refused/"+transports+"/"+tc.name, func(t *testing.T) {
				refusedNode(t, node, []string{"PARLEY_URL=" + gw, "PARLEY_ORIGIN=" + tc.origin, "PARLEY_COOKIE=" + tc.cookie,
					"PARLEY_TRANSPORTS=" + transports, "PARLEY_EXPECT_REFUSAL=1"}, tc.code)
			})
		}
	}
}

// refusedNode runs the Node client expecting connect_error (with code,
// when code is set).
func refusedNode(t *testing.T, node string, env []string, code string) {
	t.Helper()
	lines, err := runNode(t, node, env, nil)
	if err != nil || len(lines) == 0 {
		t.Fatalf("node client was not refused: %v; output %+v", err, lines)
	}
	last := lines[len(lines)-1]
	t.Logf("node: %s %q (code %q)", last.Event, last.Message, last.Data.Code)
	if last.Event != "connect_error" || (code != "" && last.Data.Code != code) {
		t.Errorf("node got %+v, want connect_error with code %q", last, code)
	}
}
