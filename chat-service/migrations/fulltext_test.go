package migrations_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
)

// The full-text index keeps a small pending list (00006): bulk merges are
// cheaper per row than updating the posting trees one entry at a time, and
// at 64 kB a merge stays short enough not to stall the send batch that
// triggers it (the 4 MB default did, see 00005).
func TestFullTextIndexKeepsSmallPendingList(t *testing.T) {
	ctx := context.Background()
	pool := pgtest.New(t, "chat", migrations.FS())
	var opts []string
	if err := pool.QueryRow(ctx,
		`SELECT coalesce(reloptions, '{}') FROM pg_class WHERE relname = 'messages_fulltext'`).Scan(&opts); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fastupdate=on", "gin_pending_list_limit=64"} {
		if !slices.Contains(opts, want) {
			t.Fatalf("messages_fulltext options = %v, want %s", opts, want)
		}
	}

	// A message whose entries are still in the pending list is found
	// through the index, and one soft-deleted is not.
	const conv = "0192f2d4-4c9e-7b7a-9d4e-5f1a2b3c4d5e"
	const sender = "0192f2d4-0000-7000-8000-000000000001"
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := pool.Exec(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO conversations (id, kind, title, created_by, created_at, updated_at, last_activity_at)
		VALUES ($1, 'group', 'g', $2, now(), now(), now())`, conv, sender)
	exec(`INSERT INTO messages (id, conversation_id, seq, event_seq, sender_id, client_msg_id, body, created_at)
		VALUES (gen_random_uuid(), $1, 1, 1, $2, 'a', 'the quokka smiles', now())`, conv, sender)
	exec(`INSERT INTO messages (id, conversation_id, seq, event_seq, sender_id, client_msg_id, body, created_at, deleted_at)
		VALUES (gen_random_uuid(), $1, 2, 2, $2, 'b', 'a deleted quokka', now(), now())`, conv, sender)

	tx, err := pool.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = tx.Rollback(ctx) }()
	if _, err := tx.Exec(ctx, `SET LOCAL enable_seqscan = off`); err != nil {
		t.Fatal(err)
	}
	const search = `SELECT body FROM messages
		WHERE deleted_at IS NULL AND to_tsvector('simple', body) @@ websearch_to_tsquery('simple', 'quokka')`
	strs := func(q string) []string {
		t.Helper()
		rows, err := tx.Query(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		out, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	plan := strings.Join(strs(`EXPLAIN `+search), "\n")
	if !strings.Contains(plan, "messages_fulltext") {
		t.Fatalf("search does not use the index:\n%s", plan)
	}
	if got := strs(search); !slices.Equal(got, []string{"the quokka smiles"}) {
		t.Fatalf("search found %q, want the one live message", got)
	}
}
