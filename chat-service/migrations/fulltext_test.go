package migrations_test

import (
	"context"
	"slices"
	"testing"

	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
)

// The full-text index must not keep a pending list: merging it ran inside
// the send batch that crossed its limit and stalled it (see 00005).
func TestFullTextIndexHasNoPendingList(t *testing.T) {
	pool := pgtest.New(t, "chat", migrations.FS())
	var opts []string
	if err := pool.QueryRow(context.Background(),
		`SELECT coalesce(reloptions, '{}') FROM pg_class WHERE relname = 'messages_fulltext'`).Scan(&opts); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(opts, "fastupdate=off") {
		t.Fatalf("messages_fulltext options = %v, want fastupdate=off", opts)
	}
}
