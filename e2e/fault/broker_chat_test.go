//go:build fault

package fault

import (
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/chaos"
	"github.com/parleychat/parley/e2e/harness"
)

// TestFaultBrokerKilledDuringChat: live chat traffic from socket clients
// (2 gateways, 2 chat-services), RabbitMQ SIGKILLed and restarted under
// it. Every acknowledged message is stored once and reaches every member,
// live or through the sync a client runs after a reconnect or on
// sync:required; no event is delivered twice on a socket.
func TestFaultBrokerKilledDuringChat(t *testing.T) {
	s := harness.Start(t, harness.Options{Gateways: 2, Chats: 2, LinkAllChats: true})
	w := chaos.New(t, s, chaos.Config{Conversations: 40, Rate: 60, Seed: chaos.Seed(t)})
	w.Start()
	time.Sleep(10 * time.Second) // traffic before the fault; the checks wait on conditions
	f := w.KillBroker(5 * time.Second)
	back := time.Since(f.At)
	time.Sleep(15 * time.Second) // traffic after it
	stored := w.Finish(2 * time.Minute)
	t.Logf("figures: RabbitMQ SIGKILLed at +%s, back %s later; %d messages stored", f.At.Sub(w.Began()).Round(time.Second), back.Round(100*time.Millisecond), stored)
}
