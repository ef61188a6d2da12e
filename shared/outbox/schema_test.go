package outbox_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/shared/pgtest"
)

// tableShape lists a table's columns (name, type, nullability, default) and
// index definitions: what the relay and ProcessOnce rely on, in a form two
// databases can compare.
func tableShape(t *testing.T, pool *pgxpool.Pool, table string) []string {
	t.Helper()
	ctx := context.Background()
	rows, err := pool.Query(ctx, `
		SELECT format('column %s %s null=%s default=%s', column_name, data_type, is_nullable, coalesce(column_default, ''))
		FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1
		UNION ALL
		SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename = $1`, table)
	if err != nil {
		t.Fatalf("describe %s: %v", table, err)
	}
	shape, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		t.Fatalf("describe %s: %v", table, err)
	}
	slices.Sort(shape)
	return shape
}

// Every service copies the shared outbox and inbox definitions into its own
// migrations (goose reads files, not Go constants). This applies each
// service's real migrations and holds the resulting tables to the ones the
// shared definitions create, so a stale or edited copy fails here rather
// than in a relay at run time.
func TestServiceMigrationsCreateTheSharedTables(t *testing.T) {
	want := pgtest.New(t, "outbox_schema", nil)
	if _, err := want.Exec(context.Background(), outbox.Schema+outbox.PublishedSchema+outbox.ProcessedSchema); err != nil {
		t.Fatalf("apply shared definitions: %v", err)
	}
	cases := []struct {
		service string
		tables  []string
	}{
		{"auth-service", []string{"outbox", "outbox_published"}},
		{"user-service", []string{"outbox", "outbox_published", "processed_events"}},
		{"chat-service", []string{"outbox", "outbox_published", "processed_events"}},
	}
	for _, tc := range cases {
		t.Run(tc.service, func(t *testing.T) {
			dir := filepath.Join("..", "..", tc.service, "migrations")
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("migrations of %s: %v (the test runs inside the workspace)", tc.service, err)
			}
			got := pgtest.New(t, strings.ReplaceAll(tc.service, "-", "_"), os.DirFS(dir))
			for _, table := range tc.tables {
				g, w := tableShape(t, got, table), tableShape(t, want, table)
				if len(g) == 0 {
					t.Errorf("%s migrations create no %s table", tc.service, table)
					continue
				}
				if d := diff(g, w); d != "" {
					t.Errorf("%s migrations: %s differs from the shared definition:\n%s", tc.service, table, d)
				}
			}
		})
	}
}

// diff lists the lines only one of got and want holds.
func diff(got, want []string) string {
	var b strings.Builder
	for _, l := range got {
		if !slices.Contains(want, l) {
			fmt.Fprintf(&b, "  got only:  %s\n", l)
		}
	}
	for _, l := range want {
		if !slices.Contains(got, l) {
			fmt.Fprintf(&b, "  want only: %s\n", l)
		}
	}
	return b.String()
}
