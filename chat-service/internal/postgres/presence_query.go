package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

var _ chat.PresenceLookup = (*Store)(nil)

// VisiblePresence reads the last published presence (presence_users, kept
// current by heartbeats and the sweeper) of those of users who are the
// caller or share a current conversation with them, in the order given. A
// visible user never seen online is answered offline without lastSeenAt.
func (s *Store) VisiblePresence(ctx context.Context, callerID string, users []string) ([]chat.PresenceState, error) {
	rows, err := s.pool.Query(ctx, `SELECT u.id::text, coalesce(p.online, false), p.last_seen_at
		FROM unnest($2::uuid[]) WITH ORDINALITY AS u (id, ord)
		LEFT JOIN presence_users p ON p.user_id = u.id
		WHERE u.id = $1::uuid OR EXISTS (
			SELECT 1 FROM members m JOIN members o ON o.conversation_id = m.conversation_id
			WHERE m.user_id = $1::uuid AND m.removed_at IS NULL
				AND o.user_id = u.id AND o.removed_at IS NULL)
		ORDER BY u.ord`, callerID, users)
	if err != nil {
		return nil, wrap(err, "visible presence")
	}
	states, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chat.PresenceState, error) {
		var st chat.PresenceState
		var seen *time.Time
		err := r.Scan(&st.UserID, &st.Online, &seen)
		if seen != nil {
			utc := seen.UTC()
			st.LastSeenAt = &utc
		}
		return st, err
	})
	return states, wrap(err, "visible presence")
}
