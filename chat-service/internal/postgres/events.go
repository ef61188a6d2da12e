package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/outbox"
)

// AppendEvent writes the change-log row and the outbox row of ev in the
// caller's transaction: the event is delivered if and only if the change
// commits.
func (t *tx) AppendEvent(ctx context.Context, ev chat.Event) error {
	if _, err := t.pgx.Exec(ctx, `INSERT INTO conversation_events (conversation_id, event_seq, type, payload, created_at)
		VALUES ($1, $2, $3, $4, $5)`, ev.ConversationID, ev.EventSeq, ev.Type, ev.Payload, ev.CreatedAt); err != nil {
		return wrap(err, "append event")
	}
	recipients := ev.Recipients
	if recipients == nil {
		recipients = []string{}
	}
	env, err := events.New(ctx, chat.ServiceName, ev.Type, 1, events.Delivery{
		ConversationID: ev.ConversationID,
		EventSeq:       ev.EventSeq,
		Recipients:     recipients,
		Payload:        ev.Payload,
	})
	if err != nil {
		return err
	}
	return outbox.Enqueue(ctx, t.pgx, events.ExchangeChat, ev.ConversationID, env)
}

// SyncStates returns the log bounds and membership periods of the user's
// current conversations and of the listed ones they were removed from.
func (q queries) SyncStates(ctx context.Context, userID string, listed []string) ([]chat.SyncState, error) {
	rows, err := q.db.Query(ctx, `SELECT c.id::text, m.removed_at IS NULL, c.last_event_seq, c.pruned_event_seq,
			p.from_event_seq, coalesce(p.to_event_seq, 0)
		FROM members m JOIN conversations c ON c.id = m.conversation_id
		JOIN member_periods p ON p.conversation_id = m.conversation_id AND p.user_id = m.user_id
		WHERE m.user_id = $1 AND (m.removed_at IS NULL OR m.conversation_id = ANY($2::uuid[]))
		ORDER BY c.id, p.from_event_seq`, userID, listed)
	if err != nil {
		return nil, wrap(err, "sync states")
	}
	defer rows.Close()
	var states []chat.SyncState
	for rows.Next() {
		var s chat.SyncState
		var p chat.Period
		if err := rows.Scan(&s.ConversationID, &s.Active, &s.LastEventSeq, &s.PrunedEventSeq, &p.From, &p.To); err != nil {
			return nil, wrap(err, "sync states")
		}
		if n := len(states); n > 0 && states[n-1].ConversationID == s.ConversationID {
			states[n-1].Periods = append(states[n-1].Periods, p)
			continue
		}
		s.Periods = []chat.Period{p}
		states = append(states, s)
	}
	return states, wrap(rows.Err(), "sync states")
}

// EventRanges reads several slices of change logs in one round trip.
func (q queries) EventRanges(ctx context.Context, ranges []chat.EventRange) ([]chat.Event, error) {
	n := len(ranges)
	ids, froms, tos, limits := make([]string, n), make([]int64, n), make([]int64, n), make([]int32, n)
	for i, r := range ranges {
		ids[i], froms[i], tos[i], limits[i] = r.ConversationID, r.From, r.To, int32(r.Limit)
	}
	rows, err := q.db.Query(ctx, `SELECT e.conversation_id::text, e.event_seq, e.type, e.payload, e.created_at
		FROM unnest($1::uuid[], $2::bigint[], $3::bigint[], $4::int[]) AS r(cid, lo, hi, lim)
		CROSS JOIN LATERAL (SELECT * FROM conversation_events ce
			WHERE ce.conversation_id = r.cid AND ce.event_seq BETWEEN r.lo AND r.hi
			ORDER BY ce.event_seq LIMIT r.lim) e
		ORDER BY e.conversation_id, e.event_seq`, ids, froms, tos, limits)
	if err != nil {
		return nil, wrap(err, "event ranges")
	}
	evs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chat.Event, error) {
		var e chat.Event
		err := r.Scan(&e.ConversationID, &e.EventSeq, &e.Type, &e.Payload, &e.CreatedAt)
		return e, err
	})
	return evs, wrap(err, "event ranges")
}

// PruneEvents deletes up to batch change-log rows older than cutoff and
// records, per conversation, the highest eventSeq removed, so sync answers
// a gap instead of silently skipping. It returns how many rows went.
func (s *Store) PruneEvents(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	var n int64
	err := s.pool.QueryRow(ctx, `WITH doomed AS (
			SELECT conversation_id, event_seq FROM conversation_events
			WHERE created_at < $1 ORDER BY created_at LIMIT $2 FOR UPDATE SKIP LOCKED
		), deleted AS (
			DELETE FROM conversation_events e USING doomed d
			WHERE e.conversation_id = d.conversation_id AND e.event_seq = d.event_seq
			RETURNING e.conversation_id, e.event_seq
		), marked AS (
			UPDATE conversations c SET pruned_event_seq = GREATEST(c.pruned_event_seq, x.top)
			FROM (SELECT conversation_id, max(event_seq) AS top FROM deleted GROUP BY conversation_id) x
			WHERE c.id = x.conversation_id
			RETURNING 1
		)
		SELECT count(*) FROM deleted`, cutoff, batch).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("postgres: prune events: %w", err)
	}
	return n, nil
}
