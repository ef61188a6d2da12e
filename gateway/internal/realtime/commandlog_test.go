package realtime

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/link"
)

// syncBuffer is a log output the server's goroutines may write at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// records returns the command records written so far, by error code.
func (s *syncBuffer) records(t *testing.T) map[string]int {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		line := sc.Bytes()
		if n := bytes.Count(line, []byte(`"event.dataset":`)); n != 1 {
			t.Errorf("record carries event.dataset %d times: %s", n, line)
		}
		var rec map[string]any
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("log record %q: %v", line, err)
		}
		if rec["event.dataset"] == "socketio.command" {
			code, _ := rec["error.code"].(string)
			out[code]++
		}
	}
	return out
}

// Chat-service's admission-control refusals (503 overloaded) are expected
// under load and counted in metrics: they are logged sampled, so a burst
// of them does not add a record each to the load. Real server failures
// keep a record each.
func TestRefusalsAreLoggedSampledFailuresInFull(t *testing.T) {
	const n = 2000
	var out syncBuffer
	r := newRigLog(t, Options{}, zerolog.New(&out))
	r.link.reply = func(event string, payload map[string]any) []any {
		data, _ := payload["data"].(map[string]any)
		if data["fail"] == true {
			return errorAck(500, "internal", "")
		}
		return errorAck(503, link.CodeOverloaded, "the service is busy, retry shortly")
	}
	go func() { // the fake link reports every call here; nobody else reads them
		for range r.link.calls {
		}
	}()
	sock, err := r.dial(cookie(r.sessionToken("0b8f9a52-7c1e-4f7e-9d3a-2a6f0f3b6c11", "s-log")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Disconnect()
	var wg sync.WaitGroup
	emit := func(fail bool) {
		wg.Add(1)
		if err := sock.Emit(link.MessageSend, map[string]any{"conversationId": "7d9a8f0e-8f6c-4b8e-9a51-2f0c6f1d2e33", "fail": fail},
			func([]any, error) { wg.Done() }); err != nil {
			t.Fatal(err)
		}
	}
	for i := range n {
		emit(i%4 == 0)
	}
	wg.Wait()
	got := out.records(t)
	t.Logf("records by code: %v", got)
	if got["internal"] != n/4 {
		t.Errorf("%d records of 500 internal, want every one of the %d", got["internal"], n/4)
	}
	refused := n - n/4
	if got["overloaded"] == 0 || got["overloaded"] >= refused {
		t.Errorf("%d records of %d refusals (503 overloaded), want some but not one each", got["overloaded"], refused)
	}
	if !strings.Contains(out.b.String(), `"socketio.event":"message:send"`) {
		t.Error("records do not name the command")
	}
}
