package chaos

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// fault is one kind of fault the chaos test may inject.
type fault struct {
	name string
	do   func(w *World, down time.Duration)
}

// infraFaults are added by the fault build (chaos_infra_test.go): faults
// of the shared infrastructure, for runs that have it to themselves.
var infraFaults []fault

// serviceFaults are SIGKILLs of one instance of each service, and a
// SIGTERM of a random instance, each restarted after a pause.
func serviceFaults(s *harness.Stack) []fault {
	kill := func(p *harness.Process) fault {
		return fault{"SIGKILL " + p.Name, func(w *World, down time.Duration) { w.Kill(p, down) }}
	}
	var out []fault
	for _, p := range s.All() {
		out = append(out, kill(p))
	}
	out = append(out, fault{"SIGTERM a random instance", func(w *World, down time.Duration) {
		all := w.Stack().All()
		w.Terminate(all[w.Intn(len(all))], down)
	}})
	return out
}

// TestChaos: 2 gateways (each linked to both chat-services), 2
// chat-services, 2 user-services, steady chat traffic from socket clients
// that follow the documented client algorithm, and one fault at a time
// under that load, each restarted after a pause: a chat-service SIGKILLed,
// a gateway SIGKILLed, then every other instance SIGKILLed and one
// SIGTERMed in a seeded order, then random ones. At the end every acknowledged message is stored exactly
// once, every member's view (live and sync) equals the store, no event
// came twice on a socket or out of order, and no client hung.
//
// The default is the short form (under 3 minutes, in make test); make
// chaos runs the long one: CHAOS_DURATION (traffic), CHAOS_INTERVAL
// (between faults), CHAOS_CONVERSATIONS, CHAOS_RATE (msg/s), CHAOS_SEED.
// Built with -tags fault, the faults also include SIGKILLing RabbitMQ and
// restarting PostgreSQL.
func TestChaos(t *testing.T) {
	duration := EnvDuration(t, "CHAOS_DURATION", 60*time.Second)
	interval := EnvDuration(t, "CHAOS_INTERVAL", 10*time.Second)
	convs := int(EnvFloat(t, "CHAOS_CONVERSATIONS", 30))
	rate := EnvFloat(t, "CHAOS_RATE", 45)

	s := harness.Start(t, harness.Options{Gateways: 2, Chats: 2, UserServices: 2, LinkAllChats: true, AllUserServices: true})
	w := New(t, s, Config{Conversations: convs, Rate: rate, RESTRate: 5, Seed: Seed(t)})
	services := serviceFaults(s)
	menu := append(services, infraFaults...)
	// The sequence first (a chat-service SIGKILLed, a gateway
	// SIGKILLed, then RabbitMQ and PostgreSQL when built with them), then
	// every other kind once in a seeded order, then random ones.
	var first, rest []int
	chat, gw := -1, -1
	for i, f := range menu {
		switch {
		case strings.HasPrefix(f.name, "SIGKILL chat-service") && (chat < 0 || w.Intn(2) == 0):
			chat = i
		case strings.HasPrefix(f.name, "SIGKILL gateway") && (gw < 0 || w.Intn(2) == 0):
			gw = i
		}
	}
	first = append(first, chat, gw)
	for i := range menu {
		switch {
		case i == chat || i == gw:
		case i >= len(services):
			first = append(first, i) // the infrastructure's
		default:
			rest = append(rest, i)
		}
	}
	for i := len(rest) - 1; i > 0; i-- {
		j := w.Intn(i + 1)
		rest[i], rest[j] = rest[j], rest[i]
	}
	order := append(first, rest...)
	w.Start()
	for n := 0; ; n++ {
		if !pause(w.stop, interval) || w.Elapsed()+interval/2 > duration {
			break
		}
		k := w.Intn(len(menu))
		if n < len(order) {
			k = order[n]
		}
		down := time.Duration(500+w.Intn(2500)) * time.Millisecond
		menu[k].do(w, down)
	}
	for w.Elapsed() < duration {
		pause(w.stop, duration-w.Elapsed())
	}
	stored := w.Finish(2 * time.Minute)
	if stored == 0 {
		t.Fatal("no message was stored")
	}
	if n := len(w.Faults()); n == 0 {
		t.Fatal("no fault was injected: CHAOS_DURATION shorter than CHAOS_INTERVAL?")
	}
	t.Logf("figures: %d faults in %s", len(w.Faults()), fmt.Sprint(duration))
}
