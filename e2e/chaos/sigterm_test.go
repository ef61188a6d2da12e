package chaos

import (
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// TestSigtermDrains: under steady chat traffic and REST reads, every
// instance of every service is stopped with SIGTERM in turn (and started
// again): each exits 0 within its shutdown timeout; no in-flight command
// or request fails except by a refusal the client retries (429/503/504)
// or, for a stopping gateway, its socket being closed so the client
// reconnects to the other; and nothing acknowledged is lost (the chaos
// invariants hold at the end).
func TestSigtermDrains(t *testing.T) {
	s := harness.Start(t, harness.Options{Gateways: 2, Chats: 2, UserServices: 2, LinkAllChats: true})
	w := New(t, s, Config{Conversations: 30, Rate: 45, RESTRate: 10, Seed: Seed(t)})
	w.Start()
	order := []*harness.Process{s.Gateways[0], s.Chats[0], s.UserServices[0], s.Auth, s.Gateways[1], s.Chats[1], s.UserServices[1]}
	for _, p := range order {
		pause(w.stop, 3*time.Second)
		w.Terminate(p, time.Second)
	}
	pause(w.stop, 3*time.Second)
	w.Finish(2 * time.Minute)
	for _, f := range w.Faults() {
		for what, n := range w.FailureCounts(f) {
			if !gracefulRefusal(what) {
				t.Errorf("%s: %d× %s: an in-flight command or request failed", f.What, n, what)
			}
		}
	}
}

// gracefulRefusal reports whether a client-visible failure is one a
// graceful stop may cause: a socket of the stopping gateway closed so the
// client reconnects elsewhere, a handshake or request refused because the
// instance no longer listens, or a refusal the client retries (429, 503).
// A command without an ack, a request cut mid-way or any other status is
// a failed in-flight command or request.
func gracefulRefusal(what string) bool {
	switch what {
	case "disconnect:transport close", "connect:refused", "rest:refused", "rest:503":
		return true
	}
	for _, cmd := range []string{"message:send", "sync"} {
		if strings.HasPrefix(what, cmd+":503 ") || strings.HasPrefix(what, cmd+":429 ") {
			return true
		}
	}
	return false
}
