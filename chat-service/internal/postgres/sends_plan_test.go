package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
)

// A send batch keeps one generic plan per connection for each of its
// statements, and each reaches its rows through an index even when planned
// on a new database; the settings end with the transaction, so the
// connection's other statements are planned as PostgreSQL chooses.
func TestSendBatchPlans(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, "chat", migrations.FS())
	ctx := context.Background()
	const (
		conv   = "0192f2d4-4c9e-7b7a-9d4e-5f1a2b3c4d5e"
		sender = "0192f2d4-0000-7000-8000-000000000001"
	)
	seedGroup(t, pool, conv, sender)
	// A former member, whom the batch must not count.
	if _, err := pool.Exec(ctx, `INSERT INTO members (conversation_id, user_id, role, joined_at, removed_at)
		VALUES ($1, '0192f2d4-0000-7000-8000-0000000000ff', 'member', now(), now())`, conv); err != nil {
		t.Fatal(err)
	}
	// Statistics of a new database, as autovacuum takes them early on:
	// the tables are tiny, so without care their generic plans scan them.
	if _, err := pool.Exec(ctx, `ANALYZE conversations, members, messages`); err != nil {
		t.Fatal(err)
	}
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()

	const batches = 7 // more than the five custom plans auto mode tries first
	var firstID string
	for i := 1; i <= batches; i++ {
		x := &sendTx{conn: conn.Conn()}
		key := chat.ClientKey{SenderID: sender, ClientMsgID: fmt.Sprintf("c%d", i)}
		lookup := chat.SendLookup{ConversationIDs: []string{conv}, Keys: []chat.ClientKey{key}}
		if firstID != "" {
			lookup.ReplyToIDs = []string{firstID}
		}
		st, err := x.LockForSends(ctx, lookup)
		if err != nil {
			t.Fatal(err)
		}
		if got := st.Conversations[conv]; got.LastSeq != int64(i-1) || len(got.Members) != 1 {
			t.Fatalf("batch %d: conversation state %+v", i, got)
		}
		now := time.Now().UTC()
		m := chat.Message{ID: newUUID(t, ctx, conn.Conn()), ConversationID: conv, Seq: int64(i), EventSeq: int64(i),
			SenderID: sender, ClientMsgID: key.ClientMsgID, Body: "hello", CreatedAt: now}
		if firstID == "" {
			firstID = m.ID
		}
		err = x.WriteSends(ctx, []chat.SeqBump{{ConversationID: conv, LastSeq: int64(i), LastEventSeq: int64(i), LastActivityAt: now}},
			[]chat.StoredSend{{Ctx: ctx, Message: m, Event: chat.Event{ConversationID: conv, EventSeq: int64(i),
				Type: "chat.message.created.v1", Payload: []byte(`{"id":"x"}`), CreatedAt: now, Recipients: []string{sender}}}})
		if err != nil {
			t.Fatal(err)
		}
	}

	var mode string
	if err := conn.QueryRow(ctx, `SELECT current_setting('plan_cache_mode')`).Scan(&mode); err != nil {
		t.Fatal(err)
	}
	if mode != "auto" {
		t.Fatalf("plan_cache_mode after a send batch = %q, want auto", mode)
	}

	rows, err := conn.Query(ctx, `SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements`)
	if err != nil {
		t.Fatal(err)
	}
	type counts struct{ generic, custom int64 }
	plans := map[string]counts{}
	for rows.Next() {
		var stmt string
		var c counts
		if err := rows.Scan(&stmt, &c.generic, &c.custom); err != nil {
			t.Fatal(err)
		}
		plans[strings.Join(strings.Fields(stmt), " ")] = c
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, prefix := range []string{
		"SELECT id::text, last_seq, last_event_seq FROM conversations",
		"SELECT conversation_id::text, user_id::text, removed_at IS NULL FROM members",
		"SELECT id::text, conversation_id::text FROM messages",
		"SELECT x.sender_id::text, x.client_msg_id FROM unnest",
		"UPDATE conversations c SET last_seq",
		"INSERT INTO messages",
		"INSERT INTO conversation_events",
		"INSERT INTO outbox",
	} {
		var got *counts
		for stmt, c := range plans {
			if strings.HasPrefix(stmt, prefix) {
				got = &c
			}
		}
		switch {
		case got == nil:
			t.Errorf("%s…: not prepared on the connection", prefix)
		case got.generic < batches-1 || got.custom != 0:
			t.Errorf("%s…: %d generic and %d custom plans, want one generic plan reused", prefix, got.generic, got.custom)
		}
	}
	checkGenericPlansUseKeys(t, conn.Conn(), conv)
}

// checkGenericPlansUseKeys explains the generic plans the connection has
// cached for the send batch's reads of conversations, members and messages.
// They were planned while the tables were new (a few rows, analysed) and
// are kept until the next ANALYZE, so every table they read must be
// reached through an index condition: a sequential scan, a whole index
// read into a hash join, or the partial index of current members, costs
// more with every row added.
func checkGenericPlansUseKeys(t *testing.T, conn *pgx.Conn, conv string) {
	t.Helper()
	ctx := context.Background()
	rows, err := conn.Query(ctx, `SELECT name, statement, parameter_types::text[] FROM pg_prepared_statements
		WHERE generic_plans > 0 AND statement ~ '(FROM|JOIN|UPDATE) (conversations|members|messages)\M'`)
	if err != nil {
		t.Fatal(err)
	}
	type prepared struct {
		name, stmt string
		params     []string
	}
	stmts, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (prepared, error) {
		var p prepared
		err := r.Scan(&p.name, &p.stmt, &p.params)
		return p, err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stmts) != 5 {
		t.Fatalf("%d generic statements reading conversations, members or messages, want 5 (lock, members, reply and clientMsgId lookups, update)", len(stmts))
	}
	sample := map[string]string{
		"text[]": "'{" + conv + "}'", "bigint[]": "'{1}'", "timestamp with time zone[]": "'{2026-01-01T00:00:00Z}'",
	}
	// The mode the batch plans under (setGenericPlans), so that EXPLAIN
	// shows the cached plan.
	if _, err := conn.Exec(ctx, `SET plan_cache_mode = force_generic_plan`); err != nil {
		t.Fatal(err)
	}
	defer conn.Exec(ctx, `RESET plan_cache_mode`)
	for _, p := range stmts {
		args := make([]string, len(p.params))
		for i, typ := range p.params {
			if args[i] = sample[typ]; args[i] == "" {
				t.Fatalf("no sample argument of type %s for %s", typ, p.stmt)
			}
		}
		lines, err := conn.Query(ctx, `EXPLAIN (COSTS OFF) EXECUTE `+p.name+`(`+strings.Join(args, ", ")+`)`)
		if err != nil {
			t.Fatal(err)
		}
		plan, err := pgx.CollectRows(lines, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		if bad := unkeyedScans(plan); len(bad) > 0 {
			t.Errorf("generic plan of %s\nreads without an index condition (%s):\n%s",
				strings.Join(strings.Fields(p.stmt), " "), strings.Join(bad, "; "), strings.Join(plan, "\n"))
		}
	}
}

// unkeyedScans lists the scans of an EXPLAIN plan that read a table or an
// index whole: sequential scans, index scans without an index condition on
// the line below, and the partial index of current members.
func unkeyedScans(plan []string) []string {
	var bad []string
	for i, line := range plan {
		l := strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "->"))
		switch {
		case strings.HasPrefix(l, "Seq Scan"), strings.Contains(l, "members_by_user"):
			bad = append(bad, l)
		case strings.Contains(l, "Index Scan") || strings.Contains(l, "Index Only Scan"):
			if i+1 >= len(plan) || !strings.Contains(plan[i+1], "Index Cond:") {
				bad = append(bad, l)
			}
		}
	}
	return bad
}

func newUUID(t *testing.T, ctx context.Context, q *pgx.Conn) string {
	t.Helper()
	var id string
	if err := q.QueryRow(ctx, `SELECT gen_random_uuid()::text`).Scan(&id); err != nil {
		t.Fatal(err)
	}
	return id
}

// InSendTx ends every transaction it began: committed by WriteSends,
// committed when nothing was written, rolled back when fn fails or a
// statement of the write fails; the conversation locks are released and
// nothing of a failed write is stored.
func TestInSendTxEndsTheTransaction(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, "chat", migrations.FS())
	store := NewStore(pool)
	ctx := context.Background()
	const (
		conv   = "0192f2d4-4c9e-7b7a-9d4e-5f1a2b3c4d5f"
		sender = "0192f2d4-0000-7000-8000-000000000002"
	)
	seedGroup(t, pool, conv, sender)
	lookup := chat.SendLookup{ConversationIDs: []string{conv}}
	// unlocked fails unless the conversation row can be locked at once.
	unlocked := func(step string) {
		t.Helper()
		tx, err := pool.Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback(ctx) }()
		if _, err := tx.Exec(ctx, `SELECT 1 FROM conversations WHERE id = $1 FOR UPDATE NOWAIT`, conv); err != nil {
			t.Fatalf("%s: conversation still locked: %v", step, err)
		}
	}
	messages := func() int {
		t.Helper()
		var n int
		if err := pool.QueryRow(ctx, `SELECT count(*) FROM messages`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	write := func(tx chat.SendTx, seq int64, clientMsgID string) error {
		now := time.Now().UTC()
		var id string
		if err := pool.QueryRow(ctx, `SELECT gen_random_uuid()::text`).Scan(&id); err != nil {
			t.Fatal(err)
		}
		return tx.WriteSends(ctx, []chat.SeqBump{{ConversationID: conv, LastSeq: seq, LastEventSeq: seq, LastActivityAt: now}},
			[]chat.StoredSend{{Ctx: ctx, Message: chat.Message{ID: id, ConversationID: conv, Seq: seq, EventSeq: seq, SenderID: sender,
				ClientMsgID: clientMsgID, Body: "hi", CreatedAt: now}, Event: chat.Event{ConversationID: conv, EventSeq: seq,
				Type: "chat.message.created.v1", Payload: []byte(`{}`), CreatedAt: now, Recipients: []string{}}}})
	}

	// holdTwo acquires two connections at once and returns their release.
	holdTwo := func() (release func()) {
		t.Helper()
		a, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		b, err := pool.Acquire(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return func() { a.Release(); b.Release() }
	}
	holdTwo()()
	opened := pool.Stat().NewConnsCount()

	boom := errors.New("boom")
	if err := store.InSendTx(ctx, func(tx chat.SendTx) error {
		if _, err := tx.LockForSends(ctx, lookup); err != nil {
			return err
		}
		return boom
	}); !errors.Is(err, boom) {
		t.Fatalf("InSendTx = %v, want fn's error", err)
	}
	unlocked("after fn failed")

	if err := store.InSendTx(ctx, func(tx chat.SendTx) error {
		_, err := tx.LockForSends(ctx, lookup)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	unlocked("after nothing was written")

	if err := store.InSendTx(ctx, func(tx chat.SendTx) error {
		if _, err := tx.LockForSends(ctx, lookup); err != nil {
			return err
		}
		return write(tx, 1, "a")
	}); err != nil {
		t.Fatal(err)
	}
	unlocked("after a commit")
	if n := messages(); n != 1 {
		t.Fatalf("%d messages stored, want 1", n)
	}

	// The second write repeats the key: its insert fails, COMMIT is skipped.
	err := store.InSendTx(ctx, func(tx chat.SendTx) error {
		if _, err := tx.LockForSends(ctx, lookup); err != nil {
			return err
		}
		return write(tx, 2, "a")
	})
	if err == nil {
		t.Fatal("a duplicate key committed")
	}
	unlocked("after a failed write")
	var lastSeq int64
	if err := pool.QueryRow(ctx, `SELECT last_seq FROM conversations WHERE id = $1`, conv).Scan(&lastSeq); err != nil {
		t.Fatal(err)
	}
	if n := messages(); n != 1 || lastSeq != 1 {
		t.Fatalf("after a failed write: %d messages, last_seq %d; want 1 and 1 (nothing of it kept)", n, lastSeq)
	}
	// Every transaction was ended on its connection, so the pool reused
	// the connections it had: one left in a transaction is destroyed and
	// the next two held at once need a new one.
	held := holdTwo()
	if n := pool.Stat().NewConnsCount(); n != opened {
		t.Errorf("the pool opened %d connections after the first two: one was left in a transaction", n-opened)
	}
	held()
}

// seedGroup stores a group conversation with its creator as its one member.
func seedGroup(t *testing.T, pool *pgxpool.Pool, conv, owner string) {
	t.Helper()
	ctx := context.Background()
	if _, err := pool.Exec(ctx, `INSERT INTO conversations (id, kind, title, created_by, created_at, updated_at, last_activity_at)
		VALUES ($1, 'group', 'g', $2, now(), now(), now())`, conv, owner); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO members (conversation_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', now())`,
		conv, owner); err != nil {
		t.Fatal(err)
	}
}
