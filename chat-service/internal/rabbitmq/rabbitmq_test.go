package rabbitmq_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/postgres"
	"github.com/parleychat/parley/chat-service/internal/rabbitmq"
	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/rabbit/rabbittest"
)

func amqpURL(t *testing.T) string { return rabbittest.URL(t) }

func suffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// dial opens a rabbit.Conn for the test.
func dial(t *testing.T) *rabbit.Conn {
	t.Helper()
	return rabbittest.Dial(t, "chat-service-test")
}

// rawChannel is a plain channel to arrange and inspect the broker
// independently of the code under test.
func rawChannel(t *testing.T) *amqp.Channel {
	t.Helper()
	conn, err := amqp.Dial(amqpURL(t))
	if err != nil {
		t.Fatalf("amqp dial: %v", err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	return ch
}

// startConsumers runs chat-service's consumers under a unique name, so
// their queues are the test's own, and deletes the queues afterwards.
func startConsumers(t *testing.T, conn *rabbit.Conn, store *postgres.Store, presence *chat.Presence) string {
	t.Helper()
	name := "chat-test-" + suffix()
	ctx, cancel := context.WithCancel(context.Background())
	cs, err := rabbitmq.NewConsumers(ctx, conn, name, store, presence)
	if err != nil {
		t.Fatalf("NewConsumers: %v", err)
	}
	done := make(chan struct{})
	go func() { cs.Run(ctx); close(done) }()
	ch := rawChannel(t)
	t.Cleanup(func() {
		cancel()
		<-done
		for _, p := range []string{rabbitmq.PurposeUserDirectory, rabbitmq.PurposePresence} {
			q := rabbit.QueueName(name, p)
			for _, n := range []string{q, rabbit.RetryQueue(q), rabbit.DeadQueue(q)} {
				_, _ = ch.QueueDelete(n, false, false, false)
			}
		}
	})
	return name
}

// publishTo sends an event straight to queue through the default exchange,
// so no other consumer bound to the real exchanges sees test data.
func publishTo(t *testing.T, conn *rabbit.Conn, queue string, env events.Envelope) {
	t.Helper()
	body, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := conn.Publisher().Publish(ctx, "", queue, body, env.ID, ""); err != nil {
		t.Fatalf("publish to %s: %v", queue, err)
	}
}

func envelope(t *testing.T, typ string, data any, at time.Time) events.Envelope {
	t.Helper()
	env, err := events.New(context.Background(), "test", typ, 1, data)
	if err != nil {
		t.Fatal(err)
	}
	env.OccurredAt = at
	return env
}

// eventually polls cond until it holds or 15 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

type replicaRow struct {
	Username, DisplayName string
}

func replica(t *testing.T, pool *pgxpool.Pool, id string) (replicaRow, bool) {
	t.Helper()
	var r replicaRow
	err := pool.QueryRow(context.Background(), `SELECT username, display_name FROM users WHERE user_id = $1`, id).Scan(&r.Username, &r.DisplayName)
	if err != nil {
		return replicaRow{}, false
	}
	return r, true
}

func TestUserDirectoryConsumer(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, "chat", migrations.FS())
	store := postgres.NewStore(pool)
	conn := dial(t)
	name := startConsumers(t, conn, store, chat.NewPresence(store, nil))
	queue := rabbit.QueueName(name, rabbitmq.PurposeUserDirectory)

	id := uuid.Must(uuid.NewV7()).String()
	t0 := time.Now().UTC().Truncate(time.Second)
	registered := envelope(t, events.TypeUserRegistered, events.UserRegisteredV1{UserID: id, Username: "ada", Email: "ada@example.com", CreatedAt: t0}, t0)
	newer := envelope(t, events.TypeProfileUpdated, events.ProfileUpdatedV1{UserID: id, Username: "ada", DisplayName: "Ada L.", UpdatedAt: t0.Add(2 * time.Second)}, t0)
	older := envelope(t, events.TypeProfileUpdated, events.ProfileUpdatedV1{UserID: id, Username: "ada", DisplayName: "stale", UpdatedAt: t0.Add(time.Second)}, t0)

	publishTo(t, conn, queue, registered)
	eventually(t, "the registration in the replica", func() bool { _, ok := replica(t, pool, id); return ok })
	publishTo(t, conn, queue, newer)
	publishTo(t, conn, queue, older)      // arrives late: must not win
	publishTo(t, conn, queue, registered) // redelivered: applied once
	eventually(t, "all four deliveries processed", func() bool {
		var n int
		_ = pool.QueryRow(context.Background(), `SELECT count(*) FROM processed_events WHERE consumer = $1`, queue).Scan(&n)
		return n == 3
	})
	// The duplicate has no row of its own; give it time to be handled, then
	// check the final state.
	time.Sleep(300 * time.Millisecond)
	got, _ := replica(t, pool, id)
	if got != (replicaRow{Username: "ada", DisplayName: "Ada L."}) {
		t.Errorf("replica = %+v, want the newest profile (Ada L.)", got)
	}
}

func TestPresenceConsumerAndRealtimePublisher(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, "chat", migrations.FS())
	store := postgres.NewStore(pool)
	conn := dial(t)
	if err := conn.DeclareExchanges(context.Background(), events.ExchangeRealtime); err != nil {
		t.Fatal(err)
	}
	realtime := rabbitmq.NewRealtime(conn.Publisher())
	name := startConsumers(t, conn, store, chat.NewPresence(store, realtime))

	// Two users sharing a conversation.
	a, b := uuid.Must(uuid.NewV7()).String(), uuid.Must(uuid.NewV7()).String()
	for _, u := range []string{a, b} {
		if _, err := store.UpsertUser(context.Background(), chat.User{ID: u, Username: "u", UpdatedAt: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	svc := chat.NewService(store, realtime, chat.DefaultConfig)
	conv, _, err := svc.CreateConversation(context.Background(), a, chat.NewConversation{Kind: chat.KindDirect, Members: []string{b}})
	if err != nil {
		t.Fatal(err)
	}

	// A queue of the test's own on parley.realtime, like a gateway's.
	ch := rawChannel(t)
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{events.TypeTyping + ".v1", events.TypePresence + ".v1"} {
		if err := ch.QueueBind(q.Name, key, events.ExchangeRealtime, false, nil); err != nil {
			t.Fatal(err)
		}
	}
	msgs, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	if err != nil {
		t.Fatal(err)
	}
	// next returns the next delivery addressed to b (other tests and
	// gateways may publish on the same keys).
	next := func(typ string) events.Delivery {
		t.Helper()
		timeout := time.After(15 * time.Second)
		for {
			select {
			case m := <-msgs:
				env, err := events.Decode(m.Body)
				if err != nil || env.Type != typ || m.MessageId != env.ID {
					continue
				}
				var d events.Delivery
				if err := env.DecodeData(&d); err != nil {
					t.Fatal(err)
				}
				if len(d.Recipients) == 1 && d.Recipients[0] == b {
					return d
				}
			case <-timeout:
				t.Fatalf("no %s for %s within 15s", typ, b)
			}
		}
	}

	if err := svc.Typing(context.Background(), a, conv.ID, true); err != nil {
		t.Fatal(err)
	}
	d := next(events.TypeTyping)
	var typing chat.TypingSignal
	if err := json.Unmarshal(d.Payload, &typing); err != nil || typing != (chat.TypingSignal{ConversationID: conv.ID, UserID: a, Typing: true}) {
		t.Errorf("typing payload = %s, want a typing in %s", d.Payload, conv.ID)
	}

	hb := envelope(t, events.TypeGatewayPresence, events.GatewayPresenceV1{GatewayID: "gw-" + suffix(), Users: []string{a}, TTLSeconds: 30}, time.Now())
	publishTo(t, conn, rabbit.QueueName(name, rabbitmq.PurposePresence), hb)
	d = next(events.TypePresence)
	var change chat.PresenceChange
	if err := json.Unmarshal(d.Payload, &change); err != nil || change.UserID != a || !change.Online {
		t.Errorf("presence payload = %s, want %s online", d.Payload, a)
	}
}
