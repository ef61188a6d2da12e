package rabbitmq_test

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/rabbitmq"
	"github.com/parleychat/parley/shared/events"
)

func example(t *testing.T, key string) events.Envelope {
	t.Helper()
	env, ok := events.ExampleFor(key)
	if !ok {
		t.Fatalf("no golden example for %s in shared/events/testdata", key)
	}
	return env
}

// captureStore records what the directory would write.
type captureStore struct{ got []chat.User }

func (c *captureStore) ApplyUserEvent(_ context.Context, _, _ string, u chat.User) (bool, error) {
	c.got = append(c.got, u)
	return true, nil
}

// The golden examples of every event chat-service consumes decode into what
// it stores.
func TestConsumedGoldenExamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		key  string
		want chat.User
	}{
		{"auth.user.registered.v1", chat.User{ID: "01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01", Username: "alice",
			UpdatedAt: time.Date(2025, 6, 1, 10, 0, 0, 0, time.UTC)}},
		{"users.profile.updated.v1", chat.User{ID: "01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01", Username: "alice",
			DisplayName: "Alice Liddell", AvatarURL: "https://cdn.example.com/a/alice.png", UpdatedAt: time.Date(2025, 6, 1, 11, 30, 0, 0, time.UTC)}},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			store := &captureStore{}
			if err := (rabbitmq.UserDirectory{Store: store, Consumer: "c"}).Handle(context.Background(), example(t, tc.key)); err != nil {
				t.Fatal(err)
			}
			if len(store.got) != 1 || !store.got[0].UpdatedAt.Equal(tc.want.UpdatedAt) {
				t.Fatalf("stored %+v, want %+v", store.got, tc.want)
			}
			got := store.got[0]
			got.UpdatedAt = tc.want.UpdatedAt
			if got != tc.want {
				t.Errorf("stored %+v, want %+v", got, tc.want)
			}
		})
	}
	t.Run("realtime.gateway.presence.v1", func(t *testing.T) {
		env := example(t, "realtime.gateway.presence.v1")
		store := &presenceCapture{}
		g := rabbitmq.GatewayPresence{Presence: chat.NewPresence(store, nil), Now: func() time.Time { return env.OccurredAt.Add(time.Second) }}
		if err := g.Handle(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		if store.gateway != "gw-01970f3a" || len(store.users) != 2 || !store.sentAt.Equal(env.OccurredAt) {
			t.Errorf("heartbeat = %q %v at %v, want gw-01970f3a with 2 users at %v", store.gateway, store.users, store.sentAt, env.OccurredAt)
		}
	})
}

type presenceCapture struct {
	gateway string
	users   []string
	sentAt  time.Time
}

func (p *presenceCapture) Heartbeat(_ context.Context, gw string, users []string, sentAt, _, _ time.Time) ([]chat.PresenceChange, error) {
	p.gateway, p.users, p.sentAt = gw, users, sentAt
	return nil, nil
}
func (p *presenceCapture) ExpirePresence(context.Context, time.Time) ([]chat.PresenceChange, error) {
	return nil, nil
}
func (p *presenceCapture) Contacts(context.Context, string) ([]string, error) { return nil, nil }

// The payloads chat-service produces have exactly the shape of the golden
// examples: decoding an example's payload into the type chat-service
// marshals and encoding it again gives the same JSON.
func TestProducedPayloadsMatchGoldenExamples(t *testing.T) {
	t.Parallel()
	cases := []struct {
		key string
		typ func() any
	}{
		{"chat.message.created.v1", func() any { return new(chat.Message) }},
		{"chat.message.updated.v1", func() any { return new(chat.Message) }},
		{"chat.message.deleted.v1", func() any { return new(chat.Message) }},
		{"chat.reaction.changed.v1", func() any { return new(chat.Message) }},
		{"chat.conversation.created.v1", func() any { return new(chat.Conversation) }},
		{"chat.conversation.updated.v1", func() any { return new(chat.Conversation) }},
		{"chat.members.changed.v1", func() any { return new(chat.Conversation) }},
		{"chat.conversation.read.v1", func() any { return new(chat.ReadReceipt) }},
		{"realtime.typing.v1", func() any { return new(chat.TypingSignal) }},
		{"realtime.presence.v1", func() any { return new(chat.PresenceChange) }},
	}
	for _, tc := range cases {
		t.Run(tc.key, func(t *testing.T) {
			var d events.Delivery
			if err := example(t, tc.key).DecodeData(&d); err != nil {
				t.Fatal(err)
			}
			v := tc.typ()
			dec := json.NewDecoder(bytes.NewReader(d.Payload))
			dec.DisallowUnknownFields()
			if err := dec.Decode(v); err != nil {
				t.Fatalf("example payload does not fit %T: %v", v, err)
			}
			again, _ := json.Marshal(v)
			if !jsonEqual(t, again, d.Payload) {
				t.Errorf("re-encoded payload\n%s\nwant\n%s", again, d.Payload)
			}
		})
	}
}

func jsonEqual(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	ax, _ := json.Marshal(x)
	by, _ := json.Marshal(y)
	return bytes.Equal(ax, by)
}
