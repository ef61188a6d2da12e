package postgres

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/auth-service/internal/auth"
)

const sessionColumns = `id, user_id, created_at, last_used_at, expires_at, user_agent, ip, revoked_at, COALESCE(revoke_reason, '')`

func scanSession(row pgx.Row) (auth.Session, error) {
	var (
		s       auth.Session
		revoked *time.Time
	)
	err := row.Scan(&s.ID, &s.UserID, &s.CreatedAt, &s.LastUsedAt, &s.ExpiresAt, &s.UserAgent, &s.IP, &revoked, &s.RevokeReason)
	s.CreatedAt, s.LastUsedAt, s.ExpiresAt = s.CreatedAt.UTC(), s.LastUsedAt.UTC(), s.ExpiresAt.UTC()
	s.RevokedAt = fromNull(revoked)
	return s, err
}

func collectSessions(rows pgx.Rows, err error) ([]auth.Session, error) {
	if err != nil {
		return nil, fmt.Errorf("postgres: sessions: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.Session, error) { return scanSession(r) })
}

// ActiveSessions lists the user's unrevoked, unexpired sessions, newest
// first.
func (s *Store) ActiveSessions(ctx context.Context, userID string, now time.Time) ([]auth.Session, error) {
	return collectSessions(s.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		ORDER BY created_at DESC, id DESC`, userID, now))
}

// RevokedSince lists sessions revoked after since.
func (s *Store) RevokedSince(ctx context.Context, since time.Time) ([]auth.Session, error) {
	return collectSessions(s.pool.Query(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE revoked_at > $1 ORDER BY revoked_at`, since))
}

// SessionByRefreshHash finds the session a refresh token belongs to.
func (s *Store) SessionByRefreshHash(ctx context.Context, hash []byte) (auth.Session, error) {
	sess, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions
		WHERE id = (SELECT session_id FROM refresh_tokens WHERE hash = $1)`, hash))
	if err != nil {
		return auth.Session{}, notFound(err, "session by refresh token")
	}
	return sess, nil
}

// CreateSession inserts s.
func (t *txStore) CreateSession(ctx context.Context, s auth.Session) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO sessions
		(id, user_id, created_at, last_used_at, expires_at, user_agent, ip)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		s.ID, s.UserID, s.CreatedAt, s.LastUsedAt, s.ExpiresAt, s.UserAgent, s.IP)
	if err != nil {
		return fmt.Errorf("postgres: create session: %w", err)
	}
	return nil
}

// SessionForUpdate locks the session's row.
func (t *txStore) SessionForUpdate(ctx context.Context, id string) (auth.Session, error) {
	sess, err := scanSession(t.tx.QueryRow(ctx, `SELECT `+sessionColumns+` FROM sessions WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return auth.Session{}, notFound(err, "lock session")
	}
	return sess, nil
}

// TouchSession records a refresh; an empty IP or user agent keeps the old
// value.
func (t *txStore) TouchSession(ctx context.Context, id string, usedAt, expiresAt time.Time, c auth.Client) error {
	_, err := t.tx.Exec(ctx, `UPDATE sessions SET last_used_at = $2, expires_at = $3,
		ip = COALESCE(NULLIF($4, ''), ip), user_agent = COALESCE(NULLIF($5, ''), user_agent)
		WHERE id = $1`, id, usedAt, expiresAt, c.IP, c.UserAgent)
	if err != nil {
		return fmt.Errorf("postgres: touch session: %w", err)
	}
	return nil
}

// RevokeSessions revokes the user's active sessions among ids (all when ids
// is nil) and returns the revoked ids. Expired sessions are left alone:
// their tokens are dead already.
func (t *txStore) RevokeSessions(ctx context.Context, userID string, ids []string, at time.Time, reason string) ([]string, error) {
	rows, err := t.tx.Query(ctx, `UPDATE sessions SET revoked_at = $2, revoke_reason = $3
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		  AND ($4::uuid[] IS NULL OR id = ANY ($4::uuid[]))
		RETURNING id`, userID, at, reason, ids)
	if err != nil {
		return nil, fmt.Errorf("postgres: revoke sessions: %w", err)
	}
	revoked, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: revoke sessions: %w", err)
	}
	return revoked, nil
}

// SessionsBeyond locks and returns the ids of the user's active sessions
// other than the newest keep, oldest first.
func (t *txStore) SessionsBeyond(ctx context.Context, userID string, keep int, now time.Time) ([]string, error) {
	rows, err := t.tx.Query(ctx, `SELECT id::text FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2
		ORDER BY created_at DESC, id DESC OFFSET $3 FOR UPDATE`, userID, now, keep)
	if err != nil {
		return nil, fmt.Errorf("postgres: sessions beyond %d: %w", keep, err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("postgres: sessions beyond %d: %w", keep, err)
	}
	slices.Reverse(ids)
	return ids, nil
}

// PruneSessions deletes sessions that ended (revoked or expired) before
// before, with their refresh tokens. Revoked sessions must outlive their
// last access token, since the revocation snapshot lists them until then;
// the service keeps them a day.
func (s *Store) PruneSessions(ctx context.Context, before time.Time) (int64, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM sessions WHERE revoked_at < $1 OR expires_at < $1`, before)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune sessions: %w", err)
	}
	return tag.RowsAffected(), nil
}
