package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/auth-service/internal/auth"
)

// Limiter is auth.Limiter on the login_failures table. Counting in the
// database lets every auth-service instance see the same failures. Checks
// and records are not atomic together, so concurrent attempts on one key
// can overshoot a limit by at most the number in flight at that moment.
type Limiter struct {
	pool *pgxpool.Pool
}

var _ auth.Limiter = (*Limiter)(nil)

// NewLimiter returns a limiter using pool.
func NewLimiter(pool *pgxpool.Pool) *Limiter { return &Limiter{pool: pool} }

// Blocked returns how long until every rule allows another attempt. For a
// rule at its limit that is when the failure that brought the count to the
// limit leaves the window, which brings the count back under it.
func (l *Limiter) Blocked(ctx context.Context, now time.Time, rules ...auth.Rule) (time.Duration, error) {
	var wait time.Duration
	for _, r := range rules {
		var at time.Time
		err := l.pool.QueryRow(ctx, `SELECT at FROM login_failures
			WHERE key = $1 AND at > $2 ORDER BY at DESC OFFSET $3 LIMIT 1`,
			r.Key, now.Add(-r.Window), r.Limit-1).Scan(&at)
		if errors.Is(err, pgx.ErrNoRows) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("postgres: throttle %s: %w", r.Key, err)
		}
		wait = max(wait, at.Add(r.Window).Sub(now))
	}
	return wait, nil
}

// Record counts one event under each key.
func (l *Limiter) Record(ctx context.Context, now time.Time, keys ...string) error {
	if len(keys) == 0 {
		return nil
	}
	_, err := l.pool.Exec(ctx, `INSERT INTO login_failures (key, at) SELECT unnest($1::text[]), $2`, keys, now)
	if err != nil {
		return fmt.Errorf("postgres: record failure: %w", err)
	}
	return nil
}

// Clear forgets the failures under key.
func (l *Limiter) Clear(ctx context.Context, key string) error {
	if _, err := l.pool.Exec(ctx, `DELETE FROM login_failures WHERE key = $1`, key); err != nil {
		return fmt.Errorf("postgres: clear failures: %w", err)
	}
	return nil
}

// Prune deletes failures older than before, which no window reaches any
// more; the service calls it periodically so the table stays small.
func (l *Limiter) Prune(ctx context.Context, before time.Time) (int64, error) {
	tag, err := l.pool.Exec(ctx, `DELETE FROM login_failures WHERE at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune failures: %w", err)
	}
	return tag.RowsAffected(), nil
}
