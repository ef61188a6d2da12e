package pgtest

import (
	"context"
	"testing"
	"testing/fstest"
)

func TestNewAppliesMigrationsInAFreshDatabase(t *testing.T) {
	migrations := fstest.MapFS{
		"00001_t.sql": {Data: []byte("-- +goose Up\nCREATE TABLE t (id int PRIMARY KEY);\n")},
	}
	a := New(t, "pgtest", migrations)
	b := New(t, "pgtest", migrations)
	ctx := context.Background()
	if _, err := a.Exec(ctx, `INSERT INTO t VALUES (1)`); err != nil {
		t.Fatalf("insert into migrated table: %v", err)
	}
	var n int
	if err := b.QueryRow(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("second database sees %d rows (err %v), want 0: databases must be separate", n, err)
	}
}
