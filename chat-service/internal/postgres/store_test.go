package postgres_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/postgres"
	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/pgtest"
)

func TestChangeLogAndOutboxCommitWithTheChangeOnly(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, "chat", migrations.FS())
	store := postgres.NewStore(pool)
	ctx := context.Background()
	now := time.Now().UTC().Truncate(time.Microsecond)
	conv := uuid.Must(uuid.NewV7()).String()
	user := uuid.Must(uuid.NewV7()).String()
	err := store.InTx(ctx, func(tx chat.Tx) error {
		_, err := tx.CreateConversation(ctx, chat.Conversation{ID: conv, Kind: chat.KindGroup, Title: "t", CreatedBy: user,
			CreatedAt: now, UpdatedAt: now, LastActivity: now}, []chat.Member{{UserID: user, Role: chat.RoleOwner, JoinedAt: now}})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	count := func() (lastEventSeq, events, outboxRows int) {
		t.Helper()
		err := pool.QueryRow(ctx, `SELECT (SELECT last_event_seq FROM conversations WHERE id = $1),
			(SELECT count(*) FROM conversation_events WHERE conversation_id = $1),
			(SELECT count(*) FROM outbox WHERE aggregate_id = $1::text)`, conv).Scan(&lastEventSeq, &events, &outboxRows)
		if err != nil {
			t.Fatal(err)
		}
		return
	}
	change := func(fail bool) error {
		return store.InTx(ctx, func(tx chat.Tx) error {
			_, eventSeq, err := tx.Bump(ctx, conv, false, now)
			if err != nil {
				return err
			}
			if err := tx.SetTitle(ctx, conv, "renamed", now); err != nil {
				return err
			}
			if err := tx.AppendEvent(ctx, chat.Event{ConversationID: conv, EventSeq: eventSeq, Type: events.TypeConversationUpdated,
				Payload: []byte(`{"title":"renamed"}`), CreatedAt: now, Recipients: []string{user}}); err != nil {
				return err
			}
			if fail {
				return errors.New("boom after the event was appended")
			}
			return nil
		})
	}

	if err := change(true); err == nil {
		t.Fatal("failing change committed")
	}
	if l, e, o := count(); l != 0 || e != 0 || o != 0 {
		t.Fatalf("after a rolled-back change: lastEventSeq %d, events %d, outbox %d; want 0, 0, 0", l, e, o)
	}
	if err := change(false); err != nil {
		t.Fatal(err)
	}
	if l, e, o := count(); l != 1 || e != 1 || o != 1 {
		t.Fatalf("after a committed change: lastEventSeq %d, events %d, outbox %d; want 1, 1, 1", l, e, o)
	}
	var exchange, key string
	var body []byte
	if err := pool.QueryRow(ctx, `SELECT exchange, routing_key, payload::text FROM outbox WHERE aggregate_id = $1`, conv).Scan(&exchange, &key, &body); err != nil {
		t.Fatal(err)
	}
	env, err := events.Decode(body)
	if err != nil {
		t.Fatal(err)
	}
	var d events.Delivery
	if err := env.DecodeData(&d); err != nil {
		t.Fatal(err)
	}
	if exchange != events.ExchangeChat || key != "chat.conversation.updated.v1" || env.Source != chat.ServiceName ||
		d.ConversationID != conv || d.EventSeq != 1 || len(d.Recipients) != 1 || d.Recipients[0] != user {
		t.Errorf("outbox row = %s %s %+v %+v", exchange, key, env, d)
	}
}

func TestPruneEventsRecordsWhatWasPruned(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, "chat", migrations.FS())
	store := postgres.NewStore(pool)
	ctx := context.Background()
	user := uuid.Must(uuid.NewV7()).String()
	if _, err := store.UpsertUser(ctx, chat.User{ID: user, Username: "u", UpdatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	svc := chat.NewService(store, nil, chat.Config{SyncEventCap: 100})
	conv, _, err := svc.CreateConversation(ctx, user, chat.NewConversation{Kind: chat.KindGroup, Title: "t"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, _, err := svc.Send(ctx, user, chat.NewMessage{ConversationID: conv.ID, ClientMsgID: string(rune('a' + i)), Body: "x"}); err != nil {
			t.Fatal(err)
		}
	}
	// Age events 1 and 2 past the cutoff.
	if _, err := pool.Exec(ctx, `UPDATE conversation_events SET created_at = now() - interval '2 days' WHERE event_seq <= 2`); err != nil {
		t.Fatal(err)
	}
	n, err := store.PruneEvents(ctx, time.Now().Add(-24*time.Hour), 1)
	if err != nil || n != 1 {
		t.Fatalf("first batch = %d, %v; want 1", n, err)
	}
	n, err = store.PruneEvents(ctx, time.Now().Add(-24*time.Hour), 10)
	if err != nil || n != 1 {
		t.Fatalf("second batch = %d, %v; want the other old event", n, err)
	}
	var pruned, left int64
	if err := pool.QueryRow(ctx, `SELECT pruned_event_seq, (SELECT count(*) FROM conversation_events) FROM conversations WHERE id = $1`, conv.ID).Scan(&pruned, &left); err != nil {
		t.Fatal(err)
	}
	if pruned != 2 || left != 2 {
		t.Errorf("pruned_event_seq %d, events left %d; want 2 and 2", pruned, left)
	}
}
