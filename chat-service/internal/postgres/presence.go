package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

var _ chat.PresenceStore = (*Store)(nil)

// presenceLock serialises presence changes across instances, so two
// heartbeats (or a heartbeat and the sweeper) never both decide the same
// transition. Heartbeats arrive every few seconds per gateway; one lock is
// plenty.
const presenceLock int64 = 0x636861742d707265 // "chat-pre"

// Heartbeat replaces gatewayID's user set and returns the transitions.
func (s *Store) Heartbeat(ctx context.Context, gatewayID string, users []string, sentAt, expires, now time.Time) ([]chat.PresenceChange, error) {
	var changes []chat.PresenceChange
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, presenceLock); err != nil {
			return wrap(err, "presence lock")
		}
		tag, err := tx.Exec(ctx, `INSERT INTO presence_gateways (gateway_id, sent_at) VALUES ($1, $2)
			ON CONFLICT (gateway_id) DO UPDATE SET sent_at = EXCLUDED.sent_at
			WHERE presence_gateways.sent_at < EXCLUDED.sent_at`, gatewayID, sentAt)
		if err != nil {
			return wrap(err, "presence gateway")
		}
		if tag.RowsAffected() == 0 {
			return nil // older than what was applied already
		}
		if _, err := tx.Exec(ctx, `INSERT INTO presence_sessions (user_id, gateway_id, expires_at)
			SELECT u, $2, $3 FROM unnest($1::uuid[]) AS u
			ON CONFLICT (user_id, gateway_id) DO UPDATE SET expires_at = EXCLUDED.expires_at`,
			users, gatewayID, expires); err != nil {
			return wrap(err, "presence sessions")
		}
		rows, err := tx.Query(ctx, `DELETE FROM presence_sessions
			WHERE gateway_id = $1 AND NOT (user_id = ANY($2::uuid[])) RETURNING user_id::text`, gatewayID, users)
		if err != nil {
			return wrap(err, "presence departures")
		}
		gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return wrap(err, "presence departures")
		}
		rows, err = tx.Query(ctx, `INSERT INTO presence_users (user_id, online, last_seen_at)
			SELECT u, true, $2 FROM unnest($1::uuid[]) AS u
			ON CONFLICT (user_id) DO UPDATE SET online = true, last_seen_at = EXCLUDED.last_seen_at
			WHERE NOT presence_users.online
			RETURNING user_id::text, online, last_seen_at`, users, now)
		if err != nil {
			return wrap(err, "presence online")
		}
		if changes, err = collectChanges(rows); err != nil {
			return err
		}
		offline, err := goOffline(ctx, tx, gone, now)
		changes = append(changes, offline...)
		return err
	})
	return changes, err
}

// ExpirePresence drops expired sessions. Only one instance does it at a
// time; the others skip the round.
func (s *Store) ExpirePresence(ctx context.Context, now time.Time) ([]chat.PresenceChange, error) {
	var changes []chat.PresenceChange
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var got bool
		if err := tx.QueryRow(ctx, `SELECT pg_try_advisory_xact_lock($1)`, presenceLock).Scan(&got); err != nil {
			return wrap(err, "presence lock")
		}
		if !got {
			return nil
		}
		rows, err := tx.Query(ctx, `DELETE FROM presence_sessions WHERE expires_at <= $1 RETURNING user_id::text`, now)
		if err != nil {
			return wrap(err, "expire presence")
		}
		gone, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return wrap(err, "expire presence")
		}
		changes, err = goOffline(ctx, tx, gone, now)
		return err
	})
	return changes, err
}

// goOffline marks offline those of users who have no live session left.
func goOffline(ctx context.Context, tx pgx.Tx, users []string, now time.Time) ([]chat.PresenceChange, error) {
	if len(users) == 0 {
		return nil, nil
	}
	rows, err := tx.Query(ctx, `UPDATE presence_users p SET online = false, last_seen_at = $2
		WHERE p.user_id = ANY($1::uuid[]) AND p.online
			AND NOT EXISTS (SELECT 1 FROM presence_sessions s WHERE s.user_id = p.user_id AND s.expires_at > $2)
		RETURNING p.user_id::text, p.online, p.last_seen_at`, users, now)
	if err != nil {
		return nil, wrap(err, "presence offline")
	}
	return collectChanges(rows)
}

func collectChanges(rows pgx.Rows) ([]chat.PresenceChange, error) {
	changes, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chat.PresenceChange, error) {
		var c chat.PresenceChange
		err := r.Scan(&c.UserID, &c.Online, &c.LastSeenAt)
		c.LastSeenAt = c.LastSeenAt.UTC()
		return c, err
	})
	return changes, wrap(err, "presence changes")
}

// Contacts lists the users sharing a conversation with userID.
func (s *Store) Contacts(ctx context.Context, userID string) ([]string, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT o.user_id::text
		FROM members m JOIN members o ON o.conversation_id = m.conversation_id
		WHERE m.user_id = $1 AND m.removed_at IS NULL AND o.removed_at IS NULL AND o.user_id <> $1
		ORDER BY 1`, userID)
	if err != nil {
		return nil, wrap(err, "contacts")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, wrap(err, "contacts")
}
