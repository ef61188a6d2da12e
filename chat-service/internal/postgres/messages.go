package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

const messageCols = `x.id, x.conversation_id, x.seq, x.event_seq, x.sender_id, x.client_msg_id, x.body,
	x.reply_to_id::text, x.created_at, x.edited_at, x.deleted_at`

func scanMessage(row pgx.Row) (chat.Message, error) {
	var m chat.Message
	err := row.Scan(&m.ID, &m.ConversationID, &m.Seq, &m.EventSeq, &m.SenderID, &m.ClientMsgID, &m.Body,
		&m.ReplyToID, &m.CreatedAt, &m.EditedAt, &m.DeletedAt)
	m.CreatedAt = m.CreatedAt.UTC()
	if m.EditedAt != nil {
		t := m.EditedAt.UTC()
		m.EditedAt = &t
	}
	if m.DeletedAt != nil {
		t := m.DeletedAt.UTC()
		m.DeletedAt = &t
	}
	m.Deleted = m.DeletedAt != nil
	m.Reactions = []chat.Reaction{}
	return m, err
}

// collectMessages reads message rows and attaches their reactions.
func (q queries) collectMessages(ctx context.Context, rows pgx.Rows, what string) ([]chat.Message, error) {
	list, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (chat.Message, error) { return scanMessage(r) })
	if err != nil {
		return nil, wrap(err, what)
	}
	if err := q.attachReactions(ctx, list); err != nil {
		return nil, err
	}
	if list == nil {
		list = []chat.Message{}
	}
	return list, nil
}

// attachReactions fills Reactions of every message in one query.
func (q queries) attachReactions(ctx context.Context, list []chat.Message) error {
	if len(list) == 0 {
		return nil
	}
	ids := make([]string, len(list))
	index := make(map[string]int, len(list))
	for i, m := range list {
		ids[i] = m.ID
		index[m.ID] = i
	}
	rows, err := q.db.Query(ctx, `SELECT message_id::text, emoji, user_id::text FROM reactions
		WHERE message_id = ANY($1::uuid[]) ORDER BY message_id, emoji, created_at, user_id`, ids)
	if err != nil {
		return wrap(err, "reactions")
	}
	defer rows.Close()
	for rows.Next() {
		var msgID, emoji, userID string
		if err := rows.Scan(&msgID, &emoji, &userID); err != nil {
			return wrap(err, "reactions")
		}
		m := &list[index[msgID]]
		if n := len(m.Reactions); n == 0 || m.Reactions[n-1].Emoji != emoji {
			m.Reactions = append(m.Reactions, chat.Reaction{Emoji: emoji})
		}
		r := &m.Reactions[len(m.Reactions)-1]
		r.Count++
		r.UserIDs = append(r.UserIDs, userID)
	}
	return wrap(rows.Err(), "reactions")
}

// Messages lists a page of messages in seq order.
func (q queries) Messages(ctx context.Context, convID string, mq chat.MessageQuery) ([]chat.Message, error) {
	var rows pgx.Rows
	var err error
	switch {
	case mq.After > 0:
		before := mq.Before
		if before <= 0 {
			before = 1<<63 - 1
		}
		rows, err = q.db.Query(ctx, `SELECT `+messageCols+` FROM messages x
			WHERE x.conversation_id = $1 AND x.seq > $2 AND x.seq < $4 ORDER BY x.seq LIMIT $3`,
			convID, mq.After, mq.Limit, before)
	default:
		before := mq.Before
		if before <= 0 {
			before = 1<<63 - 1
		}
		rows, err = q.db.Query(ctx, `SELECT * FROM (SELECT `+messageCols+` FROM messages x
			WHERE x.conversation_id = $1 AND x.seq < $2 ORDER BY x.seq DESC LIMIT $3) p ORDER BY p.seq`,
			convID, before, mq.Limit)
	}
	if err != nil {
		return nil, wrap(err, "messages")
	}
	return q.collectMessages(ctx, rows, "messages")
}

// lastMessages returns the newest message of each conversation.
func (q queries) lastMessages(ctx context.Context, convIDs []string) (map[string]chat.Message, error) {
	rows, err := q.db.Query(ctx, `SELECT x.* FROM unnest($1::uuid[]) AS c(id)
		CROSS JOIN LATERAL (SELECT `+messageCols+` FROM messages x
			WHERE x.conversation_id = c.id ORDER BY x.seq DESC LIMIT 1) x`, convIDs)
	if err != nil {
		return nil, wrap(err, "last messages")
	}
	list, err := q.collectMessages(ctx, rows, "last messages")
	if err != nil {
		return nil, err
	}
	out := make(map[string]chat.Message, len(list))
	for _, m := range list {
		out[m.ConversationID] = m
	}
	return out, nil
}

// Message returns one message of a conversation with its reactions.
func (q queries) Message(ctx context.Context, convID, msgID string) (chat.Message, error) {
	m, err := scanMessage(q.db.QueryRow(ctx, `SELECT `+messageCols+` FROM messages x
		WHERE x.id = $1 AND x.conversation_id = $2`, msgID, convID))
	if err != nil {
		return chat.Message{}, notFound(err, "message")
	}
	list := []chat.Message{m}
	if err := q.attachReactions(ctx, list); err != nil {
		return chat.Message{}, err
	}
	return list[0], nil
}

// MessagesByID returns the messages with the given ids as they are now,
// with their reactions.
func (q queries) MessagesByID(ctx context.Context, ids []string) ([]chat.Message, error) {
	rows, err := q.db.Query(ctx, `SELECT `+messageCols+` FROM messages x WHERE x.id = ANY($1::uuid[])`, ids)
	if err != nil {
		return nil, wrap(err, "messages by id")
	}
	return q.collectMessages(ctx, rows, "messages by id")
}

// MessageByClientID finds a message by its sender's idempotency key.
func (q queries) MessageByClientID(ctx context.Context, senderID, clientMsgID string) (chat.Message, error) {
	m, err := scanMessage(q.db.QueryRow(ctx, `SELECT `+messageCols+` FROM messages x
		WHERE x.sender_id = $1 AND x.client_msg_id = $2`, senderID, clientMsgID))
	if err != nil {
		return chat.Message{}, notFound(err, "message by client id")
	}
	list := []chat.Message{m}
	if err := q.attachReactions(ctx, list); err != nil {
		return chat.Message{}, err
	}
	return list[0], nil
}

// InsertMessage stores m unless its (sender, clientMsgId) exists.
func (q queries) InsertMessage(ctx context.Context, m chat.Message) (bool, error) {
	tag, err := q.db.Exec(ctx, `INSERT INTO messages
		(id, conversation_id, seq, event_seq, sender_id, client_msg_id, body, reply_to_id, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
		ON CONFLICT (sender_id, client_msg_id) DO NOTHING`,
		m.ID, m.ConversationID, m.Seq, m.EventSeq, m.SenderID, m.ClientMsgID, m.Body, m.ReplyToID, m.CreatedAt)
	if err != nil {
		return false, wrap(err, "insert message")
	}
	return tag.RowsAffected() == 1, nil
}

// UpdateMessage writes the mutable fields of m.
func (q queries) UpdateMessage(ctx context.Context, m chat.Message) error {
	_, err := q.db.Exec(ctx, `UPDATE messages SET body = $3, edited_at = $4, deleted_at = $5, event_seq = $6
		WHERE id = $1 AND conversation_id = $2`, m.ID, m.ConversationID, m.Body, m.EditedAt, m.DeletedAt, m.EventSeq)
	return wrap(err, "update message")
}

// DeleteReactions removes a message's reactions (tombstones keep none).
func (q queries) DeleteReactions(ctx context.Context, msgID string) error {
	_, err := q.db.Exec(ctx, `DELETE FROM reactions WHERE message_id = $1`, msgID)
	return wrap(err, "delete reactions")
}

// AddReaction records a reaction once.
func (q queries) AddReaction(ctx context.Context, msgID, userID, emoji string, now time.Time) (bool, error) {
	tag, err := q.db.Exec(ctx, `INSERT INTO reactions (message_id, user_id, emoji, created_at)
		VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING`, msgID, userID, emoji, now)
	if err != nil {
		return false, wrap(err, "add reaction")
	}
	return tag.RowsAffected() == 1, nil
}

// RemoveReaction deletes a reaction.
func (q queries) RemoveReaction(ctx context.Context, msgID, userID, emoji string) (bool, error) {
	tag, err := q.db.Exec(ctx, `DELETE FROM reactions WHERE message_id = $1 AND user_id = $2 AND emoji = $3`, msgID, userID, emoji)
	if err != nil {
		return false, wrap(err, "remove reaction")
	}
	return tag.RowsAffected() == 1, nil
}

// Search runs a full-text query over the user's current conversations.
func (q queries) Search(ctx context.Context, userID, query, beforeID string, limit int) ([]chat.Message, error) {
	var before *string
	if beforeID != "" {
		before = &beforeID
	}
	rows, err := q.db.Query(ctx, `SELECT `+messageCols+` FROM messages x
		JOIN members m ON m.conversation_id = x.conversation_id AND m.user_id = $1 AND m.removed_at IS NULL
		WHERE x.deleted_at IS NULL
			AND to_tsvector('simple', x.body) @@ websearch_to_tsquery('simple', $2)
			AND ($3::uuid IS NULL OR x.id < $3::uuid)
		ORDER BY x.id DESC LIMIT $4`, userID, query, before, limit)
	if err != nil {
		return nil, wrap(err, "search")
	}
	return q.collectMessages(ctx, rows, "search")
}
