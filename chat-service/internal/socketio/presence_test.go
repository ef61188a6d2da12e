package socketio_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/socketio/linktest"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/token"
)

// presenceCommand sends presence:query for userToken's user and returns
// the ack as it came.
func presenceCommand(t *testing.T, sock *linktest.Link, userToken string, data any) json.RawMessage {
	t.Helper()
	got := make(chan json.RawMessage, 1)
	err := sock.Emit(link.PresenceQuery, map[string]any{"token": userToken, "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "data": data},
		func(args []any, err error) {
			if err != nil || len(args) != 1 {
				t.Errorf("presence:query ack: args %v, err %v", args, err)
				got <- nil
				return
			}
			raw, _ := json.Marshal(args[0])
			got <- raw
		})
	if err != nil {
		t.Fatal(err)
	}
	select {
	case raw := <-got:
		return raw
	case <-time.After(10 * time.Second):
		t.Fatal("presence:query: no ack within 10s")
		return nil
	}
}

type presenceAnswer struct {
	OK       bool `json:"ok"`
	Presence []struct {
		UserID     string     `json:"userId"`
		Online     bool       `json:"online"`
		LastSeenAt *time.Time `json:"lastSeenAt"`
	} `json:"presence"`
	Error *struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
		Errors []struct {
			Field string `json:"field"`
		} `json:"errors"`
	} `json:"error"`
}

// TestPresenceQueryOverTheLink: alice asks for bob (her direct contact),
// carol (online, but sharing nothing with alice), dave (a contact in a
// group, never seen online) and an id naming no one. Bob is answered
// online, then offline once his gateway stops reporting him; dave offline
// without lastSeenAt; carol is left out exactly like the unknown id.
func TestPresenceQueryOverTheLink(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice, bob, _, sock := f.directOverLink(t)
	carol, dave := f.user(t), f.user(t)
	ctx := context.Background()
	if _, _, err := f.svc.CreateConversation(ctx, dave, chat.NewConversation{Kind: chat.KindGroup, Title: "g", Members: []string{alice}}); err != nil {
		t.Fatal(err)
	}
	presence := chat.NewPresence(f.store, nil)
	report := func(users ...string) {
		t.Helper()
		if err := presence.Heartbeat(ctx, events.GatewayPresenceV1{GatewayID: "gw-1", Users: users, TTLSeconds: 30}, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	at := f.tokenFor(t, alice, token.AudienceChat)
	nobody := uuid.Must(uuid.NewV7()).String()
	query := func(ids ...string) presenceAnswer {
		t.Helper()
		raw := presenceCommand(t, sock, at, map[string]any{"userIds": ids})
		var a presenceAnswer
		if err := json.Unmarshal(raw, &a); err != nil || !a.OK {
			t.Fatalf("presence:query %v: ack %s (%v), want ok", ids, raw, err)
		}
		return a
	}

	report(bob, carol)
	a := query(bob, carol, dave, nobody, bob)
	if len(a.Presence) != 2 || a.Presence[0].UserID != bob || !a.Presence[0].Online || a.Presence[0].LastSeenAt == nil ||
		a.Presence[1].UserID != dave || a.Presence[1].Online || a.Presence[1].LastSeenAt != nil {
		t.Errorf("alice asks for bob (online), carol, dave (never online), nobody, bob again: got %+v, want bob online with lastSeenAt, then dave offline without", a.Presence)
	}

	// Carol is online, yet answered exactly as an id naming no one.
	hidden := presenceCommand(t, sock, at, map[string]any{"userIds": []string{carol}})
	unknown := presenceCommand(t, sock, at, map[string]any{"userIds": []string{nobody}})
	if string(hidden) != string(unknown) || string(hidden) != `{"ok":true,"presence":[]}` {
		t.Errorf("non-contact carol answered %s, unknown id %s; want both {\"ok\":true,\"presence\":[]}", hidden, unknown)
	}
	// Carol is visible to herself, so it is the sharing that hides her.
	own := presenceCommand(t, sock, f.tokenFor(t, carol, token.AudienceChat), map[string]any{"userIds": []string{carol}})
	var mine presenceAnswer
	if err := json.Unmarshal(own, &mine); err != nil || len(mine.Presence) != 1 || !mine.Presence[0].Online {
		t.Errorf("carol asking for herself: %s, want her online", own)
	}

	report(carol) // bob's last socket left the gateway
	a = query(bob)
	if len(a.Presence) != 1 || a.Presence[0].Online || a.Presence[0].LastSeenAt == nil {
		t.Errorf("bob after his gateway stopped reporting him: %+v, want offline with lastSeenAt", a.Presence)
	}
}

// TestPresenceQueryRefusesBadInput: every malformed request is a 400 naming
// the field at fault.
func TestPresenceQueryRefusesBadInput(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice, bob, _, sock := f.directOverLink(t)
	at := f.tokenFor(t, alice, token.AudienceChat)
	tooMany := make([]string, chat.MaxPresenceQuery+1)
	for i := range tooMany {
		tooMany[i] = bob
	}
	cases := []struct {
		name  string
		data  any
		field string
	}{
		{"no payload", nil, "data"},
		{"missing userIds", map[string]any{}, "userIds"},
		{"empty list", map[string]any{"userIds": []string{}}, "userIds"},
		{"too many", map[string]any{"userIds": tooMany}, "userIds"},
		{"not a list", map[string]any{"userIds": bob}, "userIds"},
		{"malformed id", map[string]any{"userIds": []string{bob, "not-an-id"}}, "userIds[1]"},
		{"unknown field", map[string]any{"userIds": []string{bob}, "all": true}, "all"},
	}
	for _, tc := range cases {
		raw := presenceCommand(t, sock, at, tc.data)
		var a presenceAnswer
		_ = json.Unmarshal(raw, &a)
		if a.OK || a.Error == nil || a.Error.Status != 400 || len(a.Error.Errors) != 1 || a.Error.Errors[0].Field != tc.field {
			t.Errorf("%s: ack %s, want 400 naming %s", tc.name, raw, tc.field)
		}
	}
}
