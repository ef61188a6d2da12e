package realtime

import (
	"reflect"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// Presence timing for the test stack: gateways report every second (TTL
// three reports), chat-service sweeps expired reports twice a second.
const (
	presenceHeartbeat = time.Second
	presenceTTL       = 3 * presenceHeartbeat
	presenceSweep     = 500 * time.Millisecond
)

// presenceOf returns the online flags of userID's presence events that
// sock received, in order.
func presenceOf(t *testing.T, sock *harness.Socket, userID string) []bool {
	t.Helper()
	var out []bool
	for _, e := range sock.Named("presence") {
		var p struct {
			UserID     string    `json:"userId"`
			Online     bool      `json:"online"`
			LastSeenAt time.Time `json:"lastSeenAt"`
		}
		e.Decode(t, &p)
		if p.UserID == userID {
			if p.LastSeenAt.IsZero() {
				t.Errorf("presence %s has no lastSeenAt", e.Data)
			}
			out = append(out, p.Online)
		}
	}
	return out
}

// TestPresenceAcrossDevicesAndGateways: A with two devices on two gateways
// is online for B; closing one device keeps A online (B hears nothing);
// closing the other takes A offline; and when the gateway holding A's only
// socket is killed with SIGKILL, A goes offline within the presence TTL
// plus a sweep.
func TestPresenceAcrossDevicesAndGateways(t *testing.T) {
	t.Parallel()
	s := harness.Start(t, harness.Options{Gateways: 2, Chats: 2, Env: map[string][]string{
		"gateway":      {"PRESENCE_HEARTBEAT=" + presenceHeartbeat.String()},
		"chat-service": {"PRESENCE_SWEEP_INTERVAL=" + presenceSweep.String()},
	}})
	gw1, gw2 := s.Gateways[0].URL(), s.Gateways[1].URL()
	a := harness.NewClient(t, gw1).SignUp()
	b := harness.NewClient(t, gw2).SignUp()
	a.CreateDirect(b.UserID) // presence goes to the users one shares a conversation with
	sb := b.Connect()

	// waitPresence waits until B has heard want about A.
	waitPresence := func(d time.Duration, what string, want ...bool) {
		t.Helper()
		sb.WaitUntil(d, what, func([]harness.SocketEvent) bool {
			return reflect.DeepEqual(presenceOf(t, sb, a.UserID), want)
		})
	}

	phone := a.Connect()
	laptop := a.WithBase(gw2).Connect()
	waitPresence(10*time.Second, "B sees A online", true)

	phone.Close()
	// Longer than a TTL and a sweep: had gateway 1's empty report or its
	// expiry taken A offline, B would have heard it by now.
	time.Sleep(presenceTTL + 2*presenceSweep)
	if got := presenceOf(t, sb, a.UserID); !reflect.DeepEqual(got, []bool{true}) {
		t.Fatalf("after closing one of two devices B heard %v about A, want only [online]", got)
	}

	laptop.Close()
	waitPresence(10*time.Second, "B sees A offline once both devices are closed", true, false)

	a.Connect() // A's only socket, on gateway 1
	waitPresence(10*time.Second, "B sees A online again", true, false, true)
	killed := time.Now()
	s.Gateways[0].Kill()
	bound := presenceTTL + presenceSweep
	waitPresence(bound+5*time.Second, "B sees A offline after gateway 1 is killed", true, false, true, false)
	t.Logf("A offline %s after SIGKILL of its gateway (TTL %s, sweep %s)", time.Since(killed).Round(10*time.Millisecond), presenceTTL, presenceSweep)

	time.Sleep(time.Second) // a flapping or repeated event would show now
	if got := presenceOf(t, sb, a.UserID); !reflect.DeepEqual(got, []bool{true, false, true, false}) {
		t.Errorf("B heard %v about A, want [online offline online offline]", got)
	}
}
