package rabbitmq_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/pgtest"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/rabbit/rabbittest"
	"github.com/parleychat/parley/shared/trace"
	"github.com/parleychat/parley/user-service/internal/postgres"
	"github.com/parleychat/parley/user-service/internal/rabbitmq"
	"github.com/parleychat/parley/user-service/internal/users"
	"github.com/parleychat/parley/user-service/migrations"
)

// fixture runs the profiles consumer on a private exchange and queue set,
// so it never touches parley.auth or a running user-service's queue.
type fixture struct {
	pool     *pgxpool.Pool
	conn     *rabbit.Conn
	raw      *amqp.Channel
	exchange string
	queue    string
	consumer *rabbit.Consumer
}

func suffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

func newFixture(t *testing.T, reg func(rabbitmq.Registrar) rabbitmq.Registrar, cfg rabbit.ConsumerConfig) *fixture {
	t.Helper()
	f := &fixture{pool: pgtest.New(t, "users_test", migrations.FS), exchange: "test.auth." + suffix()}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	f.conn = rabbittest.Dial(t, "user-service-test")
	rc, err := amqp.Dial(rabbittest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	if f.raw, err = rc.Channel(); err != nil {
		t.Fatal(err)
	}
	if err := f.conn.DeclareExchanges(ctx, f.exchange); err != nil {
		t.Fatal(err)
	}
	cfg.Consumer = "user-service-test-" + suffix()
	cfg.Bindings = []rabbit.Binding{{Exchange: f.exchange, Key: "auth.#"}}
	f.queue = rabbit.QueueName(cfg.Consumer, rabbitmq.Purpose)
	t.Cleanup(func() {
		for _, q := range []string{f.queue, rabbit.RetryQueue(f.queue), rabbit.DeadQueue(f.queue)} {
			_, _ = f.raw.QueueDelete(q, false, false, false)
		}
		_ = f.raw.ExchangeDelete(f.exchange, false, false)
	})

	var r rabbitmq.Registrar = users.NewService(postgres.New(f.pool))
	if reg != nil {
		r = reg(r)
	}
	if f.consumer, err = rabbitmq.NewProfilesConsumer(ctx, f.conn, r, cfg); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.consumer.Run(runCtx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("consumer Run: %v", err)
		}
	})
	return f
}

func (f *fixture) publish(t *testing.T, routingKey, id string, body []byte) {
	t.Helper()
	if err := f.conn.Publisher().Publish(context.Background(), f.exchange, routingKey, body, id, trace.New().String()); err != nil {
		t.Fatalf("publish: %v", err)
	}
}

func (f *fixture) register(t *testing.T, userID, username string) events.Envelope {
	t.Helper()
	ev, err := events.New(context.Background(), "auth-service", events.TypeUserRegistered, 1,
		events.UserRegisteredV1{UserID: userID, Username: username, Email: username + "@example.com", CreatedAt: time.Now().UTC()})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := json.Marshal(ev)
	f.publish(t, ev.RoutingKey(), ev.ID, body)
	return ev
}

func (f *fixture) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func waitFor(t *testing.T, what string, timeout time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for: %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestConsumesEveryProducersExample(t *testing.T) {
	f := newFixture(t, nil, rabbit.ConsumerConfig{})
	// The profiles queue consumes auth.user.registered in every version
	// auth-service has published; each golden example must make a profile.
	consumed := 0
	for _, ex := range events.Examples() {
		if !strings.HasPrefix(ex.RoutingKey, events.TypeUserRegistered+".v") {
			continue
		}
		env, err := events.Decode(ex.Body)
		if err != nil {
			t.Fatalf("%s: %v", ex.RoutingKey, err)
		}
		var data events.UserRegisteredV1
		if err := env.DecodeData(&data); err != nil {
			t.Fatalf("%s: %v", ex.RoutingKey, err)
		}
		f.publish(t, ex.RoutingKey, env.ID, ex.Body)
		waitFor(t, ex.RoutingKey+" example made a profile", 10*time.Second, func() bool {
			return f.count(t, `SELECT count(*) FROM profiles WHERE user_id = $1 AND username = $2 AND display_name = $2`, data.UserID, data.Username) == 1
		})
		consumed++
	}
	if consumed == 0 {
		t.Fatal("no auth.user.registered example found in shared/events/testdata")
	}
}

func TestSameEventTenTimesMakesOneProfile(t *testing.T) {
	f := newFixture(t, nil, rabbit.ConsumerConfig{})
	user := uuid.Must(uuid.NewV7()).String()
	ev := f.register(t, user, "dora")
	body, _ := json.Marshal(ev)
	for range 9 {
		f.publish(t, ev.RoutingKey(), ev.ID, body)
	}
	waitFor(t, "ten deliveries handled", 20*time.Second, func() bool { return f.consumer.Stats().Handled == 10 })
	if n := f.count(t, `SELECT count(*) FROM profiles WHERE user_id = $1`, user); n != 1 {
		t.Errorf("%d profiles after ten deliveries, want 1", n)
	}
	if n := f.count(t, `SELECT count(*) FROM processed_events WHERE event_id = $1`, ev.ID); n != 1 {
		t.Errorf("event recorded %d times, want 1", n)
	}
}

// failing makes Register fail (as a database outage would) for some users.
type failing struct {
	rabbitmq.Registrar
	mu       sync.Mutex
	poison   map[string]bool
	attempts map[string]int
}

func (f *failing) Register(ctx context.Context, consumer, eventID string, p users.NewProfile) (bool, error) {
	f.mu.Lock()
	bad := f.poison[p.UserID]
	if bad {
		f.attempts[p.UserID]++
	}
	f.mu.Unlock()
	if bad {
		return false, errors.New("database unavailable")
	}
	return f.Registrar.Register(ctx, consumer, eventID, p)
}

func TestPoisonEventsEndInTheDeadQueueWhileOthersFlow(t *testing.T) {
	fail := &failing{poison: map[string]bool{}, attempts: map[string]int{}}
	f := newFixture(t, func(r rabbitmq.Registrar) rabbitmq.Registrar { fail.Registrar = r; return fail },
		rabbit.ConsumerConfig{MaxAttempts: 3, RetryDelay: 100 * time.Millisecond})

	// Five that can never be processed (dead at once) and five that always
	// fail (dead after three attempts), among 100 good registrations.
	malformed := [][]byte{
		[]byte(`not json at all`),
		[]byte(`{"id":"m2","type":"auth.user.registered","version":1,"occurredAt":"2025-01-01T00:00:00Z","source":"x","data":{"userId":"not-a-uuid","username":"x"}}`),
		[]byte(`{"id":"m3","type":"auth.user.registered","version":1,"occurredAt":"2025-01-01T00:00:00Z","source":"x","data":{"userId":42}}`),
		[]byte(`{"id":"m4","type":"auth.user.registered","version":1,"occurredAt":"2025-01-01T00:00:00Z","source":"x","data":{"userId":"` + uuid.NewString() + `","username":""}}`),
		[]byte(`{"id":"m5","type":"auth.session.revoked","version":1,"occurredAt":"2025-01-01T00:00:00Z","source":"x","data":{}}`),
	}
	for i, b := range malformed {
		f.publish(t, "auth.user.registered.v1", "malformed-"+string(rune('0'+i)), b)
	}
	var failingIDs []string
	for range 5 {
		id := uuid.Must(uuid.NewV7()).String()
		fail.mu.Lock()
		fail.poison[id] = true
		fail.mu.Unlock()
		failingIDs = append(failingIDs, id)
		f.register(t, id, "poison"+id[len(id)-6:])
	}
	for i := range 100 {
		f.register(t, uuid.Must(uuid.NewV7()).String(), "good"+suffix()+string(rune('a'+i%26)))
	}

	waitFor(t, "100 good profiles", 30*time.Second, func() bool { return f.count(t, `SELECT count(*) FROM profiles`) == 100 })
	var dead []amqp.Delivery
	waitFor(t, "10 events in the dead queue", 30*time.Second, func() bool {
		d, ok, err := f.raw.Get(rabbit.DeadQueue(f.queue), true)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			dead = append(dead, d)
		}
		return len(dead) == 10
	})
	fail.mu.Lock()
	defer fail.mu.Unlock()
	for _, id := range failingIDs {
		if fail.attempts[id] != 3 {
			t.Errorf("failing event for %s attempted %d times, want 3", id, fail.attempts[id])
		}
	}
	byAttempt := map[int32]int{}
	for _, d := range dead {
		byAttempt[d.Headers[rabbit.AttemptHeader].(int32)]++
	}
	if byAttempt[1] != 5 || byAttempt[3] != 5 {
		t.Errorf("dead letters by attempt = %v, want 5 after 1 attempt (malformed) and 5 after 3", byAttempt)
	}
	if n := f.count(t, `SELECT count(*) FROM profiles`); n != 100 {
		t.Errorf("%d profiles, want 100", n)
	}
}
