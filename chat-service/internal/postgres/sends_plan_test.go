package postgres

import (
	"context"
	"testing"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
)

// A send batch's transaction plans its statements for the tables as they
// are, and the setting ends with the transaction: the connection's other
// statements keep their cached plans.
func TestSendBatchPlansForTheTablesAsTheyAre(t *testing.T) {
	t.Parallel()
	pool := pgtest.New(t, "chat", migrations.FS())
	ctx := context.Background()
	conn, err := pool.Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	pt, err := conn.Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := (&tx{queries: queries{db: pt}, pgx: pt}).LockForSends(ctx, chat.SendLookup{}); err != nil {
		t.Fatal(err)
	}
	var inTx, after string
	if err := pt.QueryRow(ctx, `SELECT current_setting('plan_cache_mode')`).Scan(&inTx); err != nil {
		t.Fatal(err)
	}
	if err := pt.Commit(ctx); err != nil {
		t.Fatal(err)
	}
	if err := conn.QueryRow(ctx, `SELECT current_setting('plan_cache_mode')`).Scan(&after); err != nil {
		t.Fatal(err)
	}
	if inTx != "force_custom_plan" || after != "auto" {
		t.Fatalf("plan_cache_mode in a send batch %q and after it %q, want force_custom_plan and auto", inTx, after)
	}
}
