package chat_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/postgres"
	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
)

// env is one test's service over its own database.
type env struct {
	pool  *pgxpool.Pool
	store *postgres.Store
	svc   *chat.Service
}

// unlimited disables flood control for tests about something else.
func unlimited() chat.Config {
	cfg := chat.DefaultConfig
	cfg.MessageRate = 0
	cfg.UnknownUserWait = 0
	cfg.SendLatencyTarget = -1 // these tests are about storing, not admission
	return cfg
}

func newEnv(t testing.TB, cfg chat.Config) *env {
	t.Helper()
	pool := pgtest.New(t, "chat", migrations.FS())
	store := postgres.NewStore(pool)
	return &env{pool: pool, store: store, svc: chat.NewService(store, nil, cfg)}
}

// newBenchEnv is newEnv without flood control for benchmarks.
func newBenchEnv(b *testing.B) *env { return newEnv(b, unlimited()) }

// benchUser registers user i for a benchmark.
func (e *env) benchUser(b *testing.B, i int) string { return e.user(b, fmt.Sprintf("bench%d", i)) }

// user registers a user in the replica and returns their id.
func (e *env) user(t testing.TB, name string) string {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	if _, err := e.store.UpsertUser(context.Background(), chat.User{ID: id, Username: name, UpdatedAt: time.Now()}); err != nil {
		t.Fatalf("UpsertUser: %v", err)
	}
	return id
}

// group creates a group owned by owner with the other members.
func (e *env) group(t *testing.T, owner string, members ...string) chat.Conversation {
	t.Helper()
	c, _, err := e.svc.CreateConversation(context.Background(), owner, chat.NewConversation{Kind: chat.KindGroup, Title: "team", Members: members})
	if err != nil {
		t.Fatalf("CreateConversation: %v", err)
	}
	return c
}

var msgCounter atomic.Int64

// send sends body from user and returns the message.
func (e *env) send(t *testing.T, user, convID, body string) chat.Message {
	t.Helper()
	id := fmt.Sprintf("c-%d", msgCounter.Add(1))
	m, _, err := e.svc.Send(context.Background(), user, chat.NewMessage{ConversationID: convID, ClientMsgID: id, Body: body})
	if err != nil {
		t.Fatalf("Send: %v", err)
	}
	return m
}

// outboxRow is one decoded outbox entry.
type outboxRow struct {
	RoutingKey string
	Delivery   struct {
		ConversationID string          `json:"conversationId"`
		EventSeq       int64           `json:"eventSeq"`
		Recipients     []string        `json:"recipients"`
		Payload        json.RawMessage `json:"payload"`
	}
}

// outbox returns the outbox rows of a conversation in order.
func (e *env) outbox(t *testing.T, convID string) []outboxRow {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT routing_key, payload->'data' FROM outbox WHERE aggregate_id = $1 ORDER BY seq`, convID)
	if err != nil {
		t.Fatalf("query outbox: %v", err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		var data []byte
		if err := rows.Scan(&r.RoutingKey, &data); err != nil {
			t.Fatalf("scan outbox: %v", err)
		}
		if err := json.Unmarshal(data, &r.Delivery); err != nil {
			t.Fatalf("decode outbox data: %v", err)
		}
		out = append(out, r)
	}
	return out
}

// kindOf returns the domain error kind of err, or 0.
func kindOf(err error) chat.ErrorKind {
	if e, ok := err.(*chat.Error); ok {
		return e.Kind
	}
	return 0
}
