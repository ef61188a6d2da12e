package realtime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleychat/parley/e2e/harness"
)

// presenceState is one entry of a presence:query ack.
type presenceState struct {
	UserID     string     `json:"userId"`
	Online     bool       `json:"online"`
	LastSeenAt *time.Time `json:"lastSeenAt"`
}

// queryPresence asks for ids over sock and returns the answered states.
func queryPresence(t *testing.T, sock *harness.Socket, ids ...string) []presenceState {
	t.Helper()
	a := sock.MustEmit("presence:query", map[string]any{"userIds": ids})
	var got struct {
		Presence []presenceState `json:"presence"`
	}
	if err := json.Unmarshal(a.Raw, &got); err != nil || got.Presence == nil {
		t.Fatalf("presence:query ack %s: want {ok, presence:[...]} (%v)", a.Raw, err)
	}
	return got.Presence
}

// waitPresenceAnswer asks again until want(answer) holds or d passes.
func waitPresenceAnswer(t *testing.T, sock *harness.Socket, d time.Duration, what string, want func([]presenceState) bool, ids ...string) []presenceState {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		got := queryPresence(t, sock, ids...)
		if want(got) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: last answer %+v after %s", what, got, d)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestPresenceQuery runs presence:query through a gateway and chat-service:
// A shares a conversation with B and asks for B, for C (online, but a
// stranger to A) and for an id naming no one. B is answered online while
// connected and offline once gone; C is never revealed: answered exactly
// as the unknown id. Bad input is refused 400 with the field. The gateway
// serves the AsyncAPI document that describes the command.
func TestPresenceQuery(t *testing.T) {
	t.Parallel()
	s := harness.Start(t, harness.Options{Env: map[string][]string{
		"gateway":      {"PRESENCE_HEARTBEAT=" + presenceHeartbeat.String()},
		"chat-service": {"PRESENCE_SWEEP_INTERVAL=" + presenceSweep.String()},
	}})
	gw := s.Gateways[0].URL()
	a := harness.NewClient(t, gw).SignUp()
	b := harness.NewClient(t, gw).SignUp()
	c := harness.NewClient(t, gw).SignUp()
	d := harness.NewClient(t, gw).SignUp()
	a.CreateDirect(b.UserID)
	d.CreateDirect(c.UserID)
	nobody := uuid.Must(uuid.NewV7()).String()

	// The command is in the event contract the gateway serves.
	doc, err := os.ReadFile(filepath.Join("..", "..", "gateway", "api", "asyncapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	served := a.Do(http.MethodGet, "/api/v1/asyncapi.yaml", nil).Expect(t, http.StatusOK, "GET /api/v1/asyncapi.yaml")
	if ct := served.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/yaml") || !bytes.Equal(served.Body, doc) ||
		!bytes.Contains(served.Body, []byte("name: presence:query")) {
		t.Errorf("GET /api/v1/asyncapi.yaml: %s, %d bytes; want gateway/api/asyncapi.yaml (%d bytes) as application/yaml, describing presence:query", ct, len(served.Body), len(doc))
	}

	sa, sd := a.Connect(), d.Connect()

	offline := func(ps []presenceState) bool {
		return len(ps) == 1 && ps[0].UserID == b.UserID && !ps[0].Online
	}
	waitPresenceAnswer(t, sa, 10*time.Second, "B offline before connecting", offline, b.UserID)

	sb := b.Connect()
	sc := c.Connect()
	defer sc.Close()
	waitPresenceAnswer(t, sa, 10*time.Second, "A sees B online", func(ps []presenceState) bool {
		return len(ps) == 1 && ps[0].UserID == b.UserID && ps[0].Online && ps[0].LastSeenAt != nil
	}, b.UserID)
	// C's contact D sees C online: C's presence is known to chat-service.
	waitPresenceAnswer(t, sd, 10*time.Second, "D sees C online", func(ps []presenceState) bool {
		return len(ps) == 1 && ps[0].UserID == c.UserID && ps[0].Online
	}, c.UserID)

	// A asking for C gets what an id naming no one gets: nothing.
	got := queryPresence(t, sa, c.UserID, b.UserID, nobody)
	if len(got) != 1 || got[0].UserID != b.UserID {
		t.Errorf("A asks for C (stranger), B, nobody: %+v, want only B", got)
	}
	hidden, unknown := sa.MustEmit("presence:query", map[string]any{"userIds": []string{c.UserID}}),
		sa.MustEmit("presence:query", map[string]any{"userIds": []string{nobody}})
	if string(hidden.Raw) != string(unknown.Raw) {
		t.Errorf("stranger answered %s, unknown id %s: they must not differ", hidden.Raw, unknown.Raw)
	}

	sb.Close()
	waitPresenceAnswer(t, sa, presenceTTL+10*time.Second, "A sees B offline once B left", func(ps []presenceState) bool {
		return offline(ps) && ps[0].LastSeenAt != nil
	}, b.UserID)

	for _, tc := range []struct {
		data  any
		field string
	}{
		{map[string]any{"userIds": []string{"not-an-id"}}, "userIds[0]"},
		{map[string]any{}, "userIds"},
		{map[string]any{"userIds": make([]string, 101)}, "userIds"},
	} {
		ack := sa.Emit("presence:query", tc.data)
		if ack.OK || ack.Error == nil || ack.Error.Status != 400 || len(ack.Error.Errors) == 0 || ack.Error.Errors[0].Field != tc.field ||
			ack.Error.TraceID == "" {
			t.Errorf("presence:query %s: ack %s, want 400 naming %s with a traceId", fmt.Sprint(tc.data), ack, tc.field)
		}
	}
}
