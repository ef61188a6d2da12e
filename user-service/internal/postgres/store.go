// Package postgres implements users.Store on PostgreSQL: profiles, the
// directory search, idempotent event processing and the outbox.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/user-service/internal/users"
)

// Store is users.Store on a pgx pool.
type Store struct {
	pool *pgxpool.Pool
}

var _ users.Store = (*Store)(nil)

// New returns a store on pool (migrated by pgdb.Open).
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

const profileColumns = `user_id::text AS id, username, display_name, bio, coalesce(avatar_url, '') AS avatar, created_at, updated_at`

func scanProfile(row pgx.Row) (users.Profile, error) {
	var p users.Profile
	err := row.Scan(&p.UserID, &p.Username, &p.DisplayName, &p.Bio, &p.AvatarURL, &p.CreatedAt, &p.UpdatedAt)
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, err
}

// CreateProfile records the event and inserts the profile in one
// transaction; a redelivered event or a second event for the same user
// changes nothing.
func (s *Store) CreateProfile(ctx context.Context, consumer, eventID string, p users.NewProfile) (bool, error) {
	created := false
	_, err := outbox.ProcessOnce(ctx, s.pool, consumer, eventID, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO profiles (user_id, username, display_name, created_at, updated_at)
			VALUES ($1, $2, $2, $3, $3) ON CONFLICT (user_id) DO NOTHING`, p.UserID, p.Username, p.CreatedAt)
		created = tag.RowsAffected() == 1
		return err
	})
	if err != nil {
		return false, fmt.Errorf("create profile %s: %w", p.UserID, err)
	}
	return created, nil
}

// Profile returns one profile.
func (s *Store) Profile(ctx context.Context, userID string) (users.Profile, error) {
	p, err := scanProfile(s.pool.QueryRow(ctx, `SELECT `+profileColumns+` FROM profiles WHERE user_id = $1`, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return users.Profile{}, users.ErrNotFound
	}
	if err != nil {
		return users.Profile{}, fmt.Errorf("read profile %s: %w", userID, err)
	}
	return p, nil
}

// UpdateProfile locks the row, applies change and, when it changed
// anything, writes the row and the users.profile.updated.v1 event in the
// same transaction. The row lock also orders the outbox rows of one user by
// commit, so the relay publishes that user's updates in order.
func (s *Store) UpdateProfile(ctx context.Context, userID string, change func(users.Profile) (users.Profile, bool)) (users.Profile, error) {
	var out users.Profile
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		old, err := scanProfile(tx.QueryRow(ctx, `SELECT `+profileColumns+` FROM profiles WHERE user_id = $1 FOR UPDATE`, userID))
		if errors.Is(err, pgx.ErrNoRows) {
			return users.ErrNotFound
		}
		if err != nil {
			return err
		}
		p, changed := change(old)
		out = p
		if !changed {
			return nil
		}
		if _, err := tx.Exec(ctx, `UPDATE profiles SET display_name = $2, bio = $3, avatar_url = nullif($4, ''), updated_at = $5
			WHERE user_id = $1`, userID, p.DisplayName, p.Bio, p.AvatarURL, p.UpdatedAt); err != nil {
			return err
		}
		ev, err := events.New(ctx, users.ServiceName, events.TypeProfileUpdated, 1, events.ProfileUpdatedV1{
			UserID: p.UserID, Username: p.Username, DisplayName: p.DisplayName,
			AvatarURL: p.AvatarURL, UpdatedAt: p.UpdatedAt,
		})
		if err != nil {
			return err
		}
		return outbox.Enqueue(ctx, tx, events.ExchangeUsers, p.UserID, ev)
	})
	if errors.Is(err, users.ErrNotFound) {
		return users.Profile{}, err
	}
	if err != nil {
		return users.Profile{}, fmt.Errorf("update profile %s: %w", userID, err)
	}
	return out, nil
}

// Search finds profiles by username or display-name prefix, in
// (lower(username), user_id) order under the C collation (byte order, the
// order of the cursor keys Go compares).
func (s *Store) Search(ctx context.Context, q users.SearchQuery) ([]users.Profile, error) {
	sql, args := searchSQL(q)
	// QueryExecModeExec plans every call with its actual pattern: a cached
	// generic plan could not turn LIKE $1 into an index range.
	rows, err := s.pool.Query(ctx, sql, append([]any{pgx.QueryExecModeExec}, args...)...)
	if err != nil {
		return nil, fmt.Errorf("search profiles: %w", err)
	}
	found, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (users.Profile, error) { return scanProfile(r) })
	if err != nil {
		return nil, fmt.Errorf("search profiles: %w", err)
	}
	return found, nil
}

// searchSQL builds the search as a union of two branches that each walk
// one index: usernames through profiles_username_search (already in result
// order, so the scan stops at the limit) and display names through
// profiles_display_name_prefix (matches sorted, top-N).
func searchSQL(q users.SearchQuery) (string, []any) {
	const key = `lower(username) COLLATE "C"`
	args := []any{q.Limit}
	after := ""
	if q.After != nil {
		args = append(args, q.After.Key, q.After.UserID)
		after = ` AND (` + key + `, user_id) > ($2 COLLATE "C", $3::uuid)`
	}
	branch := func(match string) string {
		return `(SELECT ` + profileColumns + `, ` + key + ` AS k, user_id AS uid FROM profiles WHERE ` + match + after +
			` ORDER BY ` + key + `, user_id LIMIT $1)`
	}
	if q.Prefix == "" {
		return `SELECT ` + profileColumns + ` FROM profiles WHERE true` + after +
			` ORDER BY ` + key + `, user_id LIMIT $1`, args
	}
	args = append(args, likePrefix(q.Prefix))
	p := fmt.Sprintf("$%d", len(args))
	return `SELECT id, username, display_name, bio, avatar, created_at, updated_at FROM (` +
		branch(key+` LIKE `+p) + ` UNION ` + branch(`lower(display_name) LIKE `+p) +
		`) m ORDER BY k, uid LIMIT $1`, args
}

// likePrefix escapes LIKE's wildcards (backslash is the default escape).
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

// PruneProcessed forgets processed event ids older than olderThan.
func (s *Store) PruneProcessed(ctx context.Context, olderThan time.Duration) (int64, error) {
	return outbox.PruneProcessed(ctx, s.pool, olderThan)
}
