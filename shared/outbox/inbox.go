package outbox

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// ProcessedSchema creates the inbox table that makes consumers idempotent:
// the ids of the events each consumer has applied. Consuming services
// include it in a migration, as they include Schema.
const ProcessedSchema = `
CREATE TABLE IF NOT EXISTS processed_events (
    consumer     TEXT NOT NULL,
    event_id     TEXT NOT NULL,
    processed_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);
CREATE INDEX IF NOT EXISTS processed_events_at ON processed_events (processed_at);
`

// TxBeginner starts transactions; *pgxpool.Pool and *pgx.Conn are ones.
type TxBeginner interface {
	Begin(ctx context.Context) (pgx.Tx, error)
}

// Execer runs a statement; *pgxpool.Pool, *pgx.Conn and pgx.Tx are ones.
type Execer interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

// ProcessOnce runs fn in a transaction that also records that consumer
// processed eventID, and commits both together: the side effect happens
// exactly once however often the event is delivered. If the event was
// already recorded, fn is not called and ProcessOnce returns false. A
// concurrent duplicate waits on the first one's row lock and then sees it
// as processed (or proceeds, if the first rolled back).
func ProcessOnce(ctx context.Context, db TxBeginner, consumer, eventID string, fn func(tx pgx.Tx) error) (bool, error) {
	tx, err := db.Begin(ctx)
	if err != nil {
		return false, fmt.Errorf("process once: begin: %w", err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	tag, err := tx.Exec(ctx,
		`INSERT INTO processed_events (consumer, event_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`,
		consumer, eventID)
	if err != nil {
		return false, fmt.Errorf("process once: record %s: %w", eventID, err)
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	if err := fn(tx); err != nil {
		return false, err
	}
	if err := tx.Commit(ctx); err != nil {
		return false, fmt.Errorf("process once: commit %s: %w", eventID, err)
	}
	return true, nil
}

// PruneProcessed forgets events processed more than olderThan ago, and
// returns how many it forgot. Keep olderThan well beyond the longest a
// duplicate can arrive late (retries, a restored backlog): days, not
// minutes.
func PruneProcessed(ctx context.Context, db Execer, olderThan time.Duration) (int64, error) {
	tag, err := db.Exec(ctx, `DELETE FROM processed_events WHERE processed_at < $1`, time.Now().Add(-olderThan))
	if err != nil {
		return 0, fmt.Errorf("prune processed events: %w", err)
	}
	return tag.RowsAffected(), nil
}
