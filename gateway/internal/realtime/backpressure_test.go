package realtime

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/parleychat/parley/shared/events"
)

// pollingSession opens an Engine.IO long-polling session by hand and
// connects the default namespace, then never polls again: a client that
// has stopped reading.
func pollingSession(t *testing.T, base string, h http.Header) {
	t.Helper()
	do := func(method, url, body string) string {
		req, _ := http.NewRequest(method, url, strings.NewReader(body))
		req.Header = h.Clone()
		if body != "" {
			req.Header.Set("Content-Type", "text/plain;charset=UTF-8")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, url, err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
		}
		return string(b)
	}
	open := do("GET", base+"/socket.io/?EIO=4&transport=polling", "")
	var hs struct{ Sid string }
	if !strings.HasPrefix(open, "0") || json.Unmarshal([]byte(open[1:]), &hs) != nil || hs.Sid == "" {
		t.Fatalf("unexpected open packet %q", open)
	}
	url := base + "/socket.io/?EIO=4&transport=polling&sid=" + hs.Sid
	do("POST", url, "40")
	if got := do("GET", url, ""); !strings.HasPrefix(got, "40") {
		t.Fatalf("namespace connect answered %q", got)
	}
}

func TestSlowClientIsDisconnected(t *testing.T) {
	const limit = 50
	r := newRig(t, Options{BufferLimit: limit})

	// A healthy client receiving the same volume, paced, stays connected.
	fast, err := r.dial(cookie(r.sessionToken("user-fast", "s-fast")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	got := &collector{}
	fast.On("message:new", got.on("message:new"))

	pollingSession(t, r.http.URL, cookie(r.sessionToken("user-slow", "s-slow")))
	waitFor(t, "both users registered", func() bool { return r.srv.registry.has("user-slow") && r.srv.registry.has("user-fast") })

	for batch := 0; batch < 4; batch++ {
		for i := range limit / 2 {
			env := delivery(t, events.TypeMessageCreated, []string{"user-slow", "user-fast"},
				fmt.Sprintf(`{"id":"m%d-%d"}`, batch, i))
			if err := r.srv.Deliver(context.Background(), env); err != nil {
				t.Fatal(err)
			}
		}
		want := (batch + 1) * limit / 2
		waitFor(t, "the fast client to read its batch", func() bool { return got.count("message:new") >= want })
	}
	waitFor(t, "the slow client to be cut off", func() bool { return !r.srv.registry.has("user-slow") })
	if !fast.Connected() || !r.srv.registry.has("user-fast") {
		t.Error("the client that keeps up was disconnected too")
	}
}
