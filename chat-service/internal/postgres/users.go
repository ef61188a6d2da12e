package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/outbox"
)

// KnownUsers reports which ids the user replica holds.
func (q queries) KnownUsers(ctx context.Context, ids []string) (map[string]bool, error) {
	rows, err := q.db.Query(ctx, `SELECT user_id::text FROM users WHERE user_id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, wrap(err, "known users")
	}
	found, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, wrap(err, "known users")
	}
	known := make(map[string]bool, len(found))
	for _, id := range found {
		known[id] = true
	}
	return known, nil
}

// UpsertUser stores u in the replica unless a newer version is already
// there (newer wins by UpdatedAt), so redelivered or reordered events are
// harmless. changed reports whether the row was written.
func (s *Store) UpsertUser(ctx context.Context, u chat.User) (changed bool, err error) {
	return upsertUser(ctx, s.pool, u)
}

// ApplyUserEvent upserts u at most once per event id, recording eventID for
// consumer in the same transaction (outbox.ProcessOnce). applied is false
// for a duplicate.
func (s *Store) ApplyUserEvent(ctx context.Context, consumer, eventID string, u chat.User) (applied bool, err error) {
	return outbox.ProcessOnce(ctx, s.pool, consumer, eventID, func(tx pgx.Tx) error {
		_, err := upsertUser(ctx, tx, u)
		return err
	})
}

// PruneProcessed forgets consumed event ids older than olderThan.
func (s *Store) PruneProcessed(ctx context.Context, olderThan time.Duration) (int64, error) {
	return outbox.PruneProcessed(ctx, s.pool, olderThan)
}

func upsertUser(ctx context.Context, db querier, u chat.User) (bool, error) {
	tag, err := db.Exec(ctx, `INSERT INTO users (user_id, username, display_name, avatar_url, updated_at)
		VALUES ($1, $2, $3, $4, $5)
		ON CONFLICT (user_id) DO UPDATE SET username = EXCLUDED.username, display_name = EXCLUDED.display_name,
			avatar_url = EXCLUDED.avatar_url, updated_at = EXCLUDED.updated_at
		WHERE users.updated_at < EXCLUDED.updated_at`,
		u.ID, u.Username, u.DisplayName, u.AvatarURL, u.UpdatedAt)
	if err != nil {
		return false, wrap(err, "upsert user")
	}
	return tag.RowsAffected() == 1, nil
}
