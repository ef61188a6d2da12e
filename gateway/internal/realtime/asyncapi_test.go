package realtime

import (
	"slices"
	"testing"

	"github.com/parleychat/parley/gateway/api"
)

// TestEveryDocumentedEventIsHandled sends every event the AsyncAPI
// document says a client may emit, plus one it does not name, on a real
// socket, and holds the events that reached chat-service's link to the
// document, both ways: a documented event the gateway drops, or an
// undocumented one it forwards, fails.
func TestEveryDocumentedEventIsHandled(t *testing.T) {
	r := newRig(t, Options{})
	r.link.reply = func(string, map[string]any) []any { return []any{map[string]any{"ok": true}} }
	sock, err := r.dial(cookie(r.sessionToken("user-a", "s-doc")), "websocket")
	if err != nil {
		t.Fatal(err)
	}
	documented, err := api.SocketEventNames("receive")
	if err != nil {
		t.Fatal(err)
	}
	if len(documented) < 6 {
		t.Fatalf("the AsyncAPI document names %v; reading it is broken", documented)
	}
	// One socket's events are handled in order: the undocumented one
	// first, so it has been dropped (or not) once the last one arrives.
	for _, event := range append([]string{"not:documented"}, documented...) {
		if err := sock.Emit(event, map[string]any{"conversationId": "c1", "typing": true}); err != nil {
			t.Fatalf("emit %s: %v", event, err)
		}
	}
	var forwarded []string
	waitFor(t, "the documented events at the link", func() bool {
		forwarded = forwarded[:0]
		for _, s := range r.link.sentEvents() {
			forwarded = append(forwarded, s.event)
		}
		return len(forwarded) >= len(documented)
	})
	slices.Sort(forwarded)
	if !slices.Equal(forwarded, documented) {
		t.Errorf("the gateway forwarded %v\nthe AsyncAPI document's commands are %v", forwarded, documented)
	}
}
