package migrations_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
)

// TestMemberPeriodsBackfill migrates to just before member_periods, writes
// memberships the way the service did (a founder, a member removed by event
// 3, one added by event 4), migrates on and checks each got the period sync
// will then honour.
func TestMemberPeriodsBackfill(t *testing.T) {
	ctx := context.Background()
	db, err := sql.Open("pgx", pgtest.NewURL(t, "chat"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 3); err != nil {
		t.Fatal(err)
	}
	const (
		conv    = "0192f2d4-4c9e-7b7a-9d4e-5f1a2b3c4d5e"
		founder = "0192f2d4-0000-7000-8000-000000000001"
		removed = "0192f2d4-0000-7000-8000-000000000002"
		later   = "0192f2d4-0000-7000-8000-000000000003"
	)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(i int) time.Time { return t0.Add(time.Duration(i) * time.Minute) }
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	exec(`INSERT INTO conversations (id, kind, title, created_by, created_at, updated_at, last_activity_at, last_event_seq)
		VALUES ($1, 'group', 'g', $2, $3, $3, $3, 5)`, conv, founder, at(1))
	for seq := 1; seq <= 5; seq++ {
		exec(`INSERT INTO conversation_events (conversation_id, event_seq, type, payload, created_at)
			VALUES ($1, $2, 'chat.message.created.v1', '{}', $3)`, conv, seq, at(seq))
	}
	exec(`INSERT INTO members (conversation_id, user_id, role, joined_at) VALUES ($1, $2, 'owner', $3)`, conv, founder, at(1))
	exec(`INSERT INTO members (conversation_id, user_id, role, joined_at, removed_at, removed_event_seq)
		VALUES ($1, $2, 'member', $3, $4, 3)`, conv, removed, at(1), at(3))
	exec(`INSERT INTO members (conversation_id, user_id, role, joined_at) VALUES ($1, $2, 'member', $3)`, conv, later, at(4))

	if _, err := p.UpTo(ctx, 4); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		user     string
		from, to int64 // to 0: open
	}{
		{founder, 1, 0},
		{removed, 1, 3},
		{later, 4, 0},
	}
	for _, tc := range cases {
		var from int64
		var to sql.NullInt64
		err := db.QueryRowContext(ctx, `SELECT from_event_seq, to_event_seq FROM member_periods
			WHERE conversation_id = $1 AND user_id = $2`, conv, tc.user).Scan(&from, &to)
		if err != nil {
			t.Fatalf("period of %s: %v", tc.user, err)
		}
		if from != tc.from || to.Int64 != tc.to || to.Valid != (tc.to != 0) {
			t.Errorf("period of %s = %d..%v, want %d..%d", tc.user, from, to, tc.from, tc.to)
		}
	}
}

// stdlib registers the "pgx" database/sql driver goose runs on.
var _ = stdlib.GetDefaultDriver
