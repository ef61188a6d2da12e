package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/auth-service/internal/postgres"
	"github.com/parleychat/parley/auth-service/migrations"
	"github.com/parleychat/parley/shared/pgtest"
)

func TestLimiter(t *testing.T) {
	ctx := context.Background()
	l := postgres.NewLimiter(pgtest.New(t, "auth_test", migrations.FS))
	window := 15 * time.Minute
	rule := auth.Rule{Key: "account:a", Limit: 3, Window: window}
	other := auth.Rule{Key: "ip:192.0.2.1", Limit: 5, Window: window}

	blocked := func(t *testing.T, now time.Time, rules ...auth.Rule) time.Duration {
		t.Helper()
		d, err := l.Blocked(ctx, now, rules...)
		if err != nil {
			t.Fatalf("Blocked: %v", err)
		}
		return d
	}
	// Failures at t0, t0+1m, t0+2m: the third reaches the limit.
	for i := range 3 {
		if d := blocked(t, t0.Add(time.Duration(i)*time.Minute), rule); d != 0 {
			t.Fatalf("before failure %d: blocked for %s, want 0", i+1, d)
		}
		if err := l.Record(ctx, t0.Add(time.Duration(i)*time.Minute), rule.Key, other.Key); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name  string
		now   time.Time
		rules []auth.Rule
		want  time.Duration
	}{
		// At the limit the oldest failure must leave the window first.
		{"at the limit", t0.Add(3 * time.Minute), []auth.Rule{rule}, 12 * time.Minute},
		{"other key under its limit", t0.Add(3 * time.Minute), []auth.Rule{other}, 0},
		{"the longest wait of all rules wins", t0.Add(3 * time.Minute), []auth.Rule{other, rule}, 12 * time.Minute},
		{"just before the oldest leaves", t0.Add(window - time.Second), []auth.Rule{rule}, time.Second},
		{"oldest has left the window", t0.Add(window), []auth.Rule{rule}, 0},
		{"a stricter limit", t0.Add(3 * time.Minute), []auth.Rule{{Key: rule.Key, Limit: 1, Window: window}}, 14 * time.Minute},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := blocked(t, tc.now, tc.rules...); got != tc.want {
				t.Errorf("Blocked = %s, want %s", got, tc.want)
			}
		})
	}

	if err := l.Clear(ctx, rule.Key); err != nil {
		t.Fatal(err)
	}
	if d := blocked(t, t0.Add(3*time.Minute), rule); d != 0 {
		t.Errorf("after Clear: blocked for %s, want 0", d)
	}
	n, err := l.Prune(ctx, t0.Add(90*time.Second))
	if err != nil || n != 2 {
		t.Errorf("Prune = %d, %v; want the 2 failures of other before t0+90s", n, err)
	}
}
