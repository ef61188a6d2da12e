package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

const conversationCols = `c.id, c.kind, c.title, coalesce(c.direct_key, ''), c.created_by, c.created_at,
	c.updated_at, c.last_activity_at, c.last_seq, c.last_event_seq, c.pruned_event_seq`

func scanConversation(row pgx.Row, extra ...any) (chat.Conversation, error) {
	var c chat.Conversation
	dest := append([]any{&c.ID, &c.Kind, &c.Title, &c.DirectKey, &c.CreatedBy, &c.CreatedAt,
		&c.UpdatedAt, &c.LastActivity, &c.LastSeq, &c.LastEventSeq, &c.PrunedEventSeq}, extra...)
	err := row.Scan(dest...)
	c.CreatedAt, c.UpdatedAt, c.LastActivity = c.CreatedAt.UTC(), c.UpdatedAt.UTC(), c.LastActivity.UTC()
	return c, err
}

const memberCols = `m.user_id, m.role, m.joined_at, m.last_read_seq,
	coalesce(u.username, ''), coalesce(u.display_name, ''), coalesce(u.avatar_url, '')`

func scanMember(row pgx.Row, extra ...any) (chat.Member, error) {
	var m chat.Member
	dest := append([]any{&m.UserID, &m.Role, &m.JoinedAt, &m.LastReadSeq, &m.Username, &m.DisplayName, &m.AvatarURL}, extra...)
	err := row.Scan(dest...)
	m.JoinedAt = m.JoinedAt.UTC()
	return m, err
}

// Member returns an active member with their replica profile.
func (q queries) Member(ctx context.Context, convID, userID string) (chat.Member, error) {
	m, err := scanMember(q.db.QueryRow(ctx, `SELECT `+memberCols+`
		FROM members m LEFT JOIN users u ON u.user_id = m.user_id
		WHERE m.conversation_id = $1 AND m.user_id = $2 AND m.removed_at IS NULL`, convID, userID))
	if err != nil {
		return chat.Member{}, notFound(err, "member")
	}
	return m, nil
}

// MemberIDs lists the active members' ids.
func (q queries) MemberIDs(ctx context.Context, convID string) ([]string, error) {
	rows, err := q.db.Query(ctx, `SELECT user_id::text FROM members
		WHERE conversation_id = $1 AND removed_at IS NULL ORDER BY user_id`, convID)
	if err != nil {
		return nil, wrap(err, "member ids")
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	return ids, wrap(err, "member ids")
}

// ActiveMemberIDs lists the active members' ids (chat.Store).
func (q queries) ActiveMemberIDs(ctx context.Context, convID string) ([]string, error) {
	return q.MemberIDs(ctx, convID)
}

// members loads the active members of several conversations, each list
// ordered by join time.
func (q queries) members(ctx context.Context, convIDs []string) (map[string][]chat.Member, error) {
	rows, err := q.db.Query(ctx, `SELECT `+memberCols+`, m.conversation_id
		FROM members m LEFT JOIN users u ON u.user_id = m.user_id
		WHERE m.conversation_id = ANY($1::uuid[]) AND m.removed_at IS NULL
		ORDER BY m.conversation_id, m.joined_at, m.user_id`, convIDs)
	if err != nil {
		return nil, wrap(err, "members")
	}
	defer rows.Close()
	out := make(map[string][]chat.Member, len(convIDs))
	for rows.Next() {
		var convID string
		m, err := scanMember(rows, &convID)
		if err != nil {
			return nil, wrap(err, "members")
		}
		out[convID] = append(out[convID], m)
	}
	return out, wrap(rows.Err(), "members")
}

// Conversation returns a conversation with its active members.
func (q queries) Conversation(ctx context.Context, convID string) (chat.Conversation, error) {
	c, err := scanConversation(q.db.QueryRow(ctx, `SELECT `+conversationCols+` FROM conversations c WHERE c.id = $1`, convID))
	if err != nil {
		return chat.Conversation{}, notFound(err, "conversation")
	}
	ms, err := q.members(ctx, []string{convID})
	if err != nil {
		return chat.Conversation{}, err
	}
	c.Members = ms[convID]
	return c, nil
}

// ConversationFor returns the conversation as viewer sees it, or
// chat.ErrNotFound unless viewer is an active member.
func (q queries) ConversationFor(ctx context.Context, convID, viewerID string) (chat.Conversation, error) {
	list, err := q.conversationsFor(ctx, viewerID, `AND c.id = $2`, convID)
	if err != nil {
		return chat.Conversation{}, err
	}
	if len(list) == 0 {
		return chat.Conversation{}, chat.ErrNotFound
	}
	return list[0], nil
}

// Conversations lists the user's conversations by last activity, newest
// first, after the cursor.
func (q queries) Conversations(ctx context.Context, userID string, after chat.ConversationCursor, limit int) ([]chat.Conversation, error) {
	if after.ID == "" {
		return q.conversationsFor(ctx, userID, `ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $2`, limit)
	}
	return q.conversationsFor(ctx, userID, `AND (c.last_activity_at, c.id) < ($2, $3::uuid)
		ORDER BY c.last_activity_at DESC, c.id DESC LIMIT $4`, after.LastActivity, after.ID, limit)
}

// conversationsFor loads the viewer's conversations selected by tail (a
// WHERE continuation with ORDER/LIMIT, parameters from $2), with members,
// the viewer's read position, unread count and last message.
func (q queries) conversationsFor(ctx context.Context, viewerID, tail string, args ...any) ([]chat.Conversation, error) {
	rows, err := q.db.Query(ctx, `SELECT `+conversationCols+`, m.last_read_seq,
		(SELECT count(*) FROM messages x WHERE x.conversation_id = c.id AND x.seq > m.last_read_seq
			AND x.sender_id <> m.user_id AND x.deleted_at IS NULL)
		FROM members m JOIN conversations c ON c.id = m.conversation_id
		WHERE m.user_id = $1 AND m.removed_at IS NULL `+tail, append([]any{viewerID}, args...)...)
	if err != nil {
		return nil, wrap(err, "conversations")
	}
	var list []chat.Conversation
	for rows.Next() {
		var read, unread int64
		c, err := scanConversation(rows, &read, &unread)
		if err != nil {
			rows.Close()
			return nil, wrap(err, "conversations")
		}
		c.LastReadSeq, c.UnreadCount = &read, &unread
		list = append(list, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, wrap(err, "conversations")
	}
	if len(list) == 0 {
		return []chat.Conversation{}, nil
	}
	ids := make([]string, len(list))
	for i, c := range list {
		ids[i] = c.ID
	}
	ms, err := q.members(ctx, ids)
	if err != nil {
		return nil, err
	}
	last, err := q.lastMessages(ctx, ids)
	if err != nil {
		return nil, err
	}
	for i := range list {
		list[i].Members = ms[list[i].ID]
		if m, ok := last[list[i].ID]; ok {
			list[i].LastMessage = &m
		}
	}
	return list, nil
}

// DirectConversationID finds the direct conversation of a pair.
func (q queries) DirectConversationID(ctx context.Context, key string) (string, error) {
	var id string
	err := q.db.QueryRow(ctx, `SELECT id::text FROM conversations WHERE direct_key = $1`, key).Scan(&id)
	if err != nil {
		return "", notFound(err, "direct conversation")
	}
	return id, nil
}

// CreateConversation inserts c and its members; created is false when the
// direct pair already has a conversation.
func (q queries) CreateConversation(ctx context.Context, c chat.Conversation, members []chat.Member) (bool, error) {
	var key *string
	if c.DirectKey != "" {
		key = &c.DirectKey
	}
	tag, err := q.db.Exec(ctx, `INSERT INTO conversations
		(id, kind, title, direct_key, created_by, created_at, updated_at, last_activity_at, last_event_seq)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (direct_key) DO NOTHING`,
		c.ID, c.Kind, c.Title, key, c.CreatedBy, c.CreatedAt, c.UpdatedAt, c.LastActivity, c.LastEventSeq)
	if err != nil {
		return false, wrap(err, "insert conversation")
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	ids := make([]string, len(members))
	roles := make([]string, len(members))
	for i, m := range members {
		ids[i], roles[i] = m.UserID, string(m.Role)
	}
	_, err = q.db.Exec(ctx, `INSERT INTO members (conversation_id, user_id, role, joined_at)
		SELECT $1, u, r, $4 FROM unnest($2::uuid[], $3::text[]) AS t(u, r)`, c.ID, ids, roles, c.CreatedAt)
	if err != nil {
		return false, wrap(err, "insert members")
	}
	// The founding members' periods start with the creation event.
	_, err = q.db.Exec(ctx, `INSERT INTO member_periods (conversation_id, user_id, from_event_seq)
		SELECT $1, u, $3 FROM unnest($2::uuid[]) AS t(u)`, c.ID, ids, c.LastEventSeq)
	return true, wrap(err, "insert member periods")
}

// Bump takes the next eventSeq (and message seq) under the row lock.
func (q queries) Bump(ctx context.Context, convID string, message bool, now time.Time) (seq, eventSeq int64, err error) {
	err = q.db.QueryRow(ctx, `UPDATE conversations SET
			last_event_seq = last_event_seq + 1,
			last_seq = last_seq + CASE WHEN $2 THEN 1 ELSE 0 END,
			last_activity_at = CASE WHEN $2 THEN $3 ELSE last_activity_at END
		WHERE id = $1 RETURNING last_seq, last_event_seq`, convID, message, now).Scan(&seq, &eventSeq)
	if err != nil {
		return 0, 0, notFound(err, "bump conversation")
	}
	return seq, eventSeq, nil
}

// SetTitle renames a conversation.
func (q queries) SetTitle(ctx context.Context, convID, title string, now time.Time) error {
	_, err := q.db.Exec(ctx, `UPDATE conversations SET title = $2, updated_at = $3 WHERE id = $1`, convID, title, now)
	return wrap(err, "set title")
}

// TouchConversation records that the conversation itself changed.
func (q queries) TouchConversation(ctx context.Context, convID string, now time.Time) error {
	_, err := q.db.Exec(ctx, `UPDATE conversations SET updated_at = $2 WHERE id = $1`, convID, now)
	return wrap(err, "touch conversation")
}

// AddMember inserts or re-activates a member and opens their membership
// period at eventSeq. A new member starts with everything before their
// arrival read, so history does not count as unread.
func (q queries) AddMember(ctx context.Context, convID string, m chat.Member, eventSeq int64) (bool, error) {
	tag, err := q.db.Exec(ctx, `INSERT INTO members (conversation_id, user_id, role, joined_at, last_read_seq)
		VALUES ($1, $2, $3, $4, (SELECT last_seq FROM conversations WHERE id = $1))
		ON CONFLICT (conversation_id, user_id) DO UPDATE SET role = EXCLUDED.role, joined_at = EXCLUDED.joined_at,
			last_read_seq = EXCLUDED.last_read_seq, removed_at = NULL, removed_event_seq = NULL
		WHERE members.removed_at IS NOT NULL`, convID, m.UserID, m.Role, m.JoinedAt)
	if err != nil {
		return false, wrap(err, "add member")
	}
	if tag.RowsAffected() == 0 {
		return false, nil
	}
	_, err = q.db.Exec(ctx, `INSERT INTO member_periods (conversation_id, user_id, from_event_seq)
		VALUES ($1, $2, $3)`, convID, m.UserID, eventSeq)
	return true, wrap(err, "open member period")
}

// RemoveMember marks an active member removed by eventSeq and closes their
// membership period with that event.
func (q queries) RemoveMember(ctx context.Context, convID, userID string, eventSeq int64, now time.Time) error {
	_, err := q.db.Exec(ctx, `UPDATE members SET removed_at = $3, removed_event_seq = $4
		WHERE conversation_id = $1 AND user_id = $2 AND removed_at IS NULL`, convID, userID, now, eventSeq)
	if err != nil {
		return wrap(err, "remove member")
	}
	_, err = q.db.Exec(ctx, `UPDATE member_periods SET to_event_seq = $3
		WHERE conversation_id = $1 AND user_id = $2 AND to_event_seq IS NULL`, convID, userID, eventSeq)
	return wrap(err, "close member period")
}

// SetRole changes an active member's role.
func (q queries) SetRole(ctx context.Context, convID, userID string, role chat.Role) error {
	_, err := q.db.Exec(ctx, `UPDATE members SET role = $3
		WHERE conversation_id = $1 AND user_id = $2 AND removed_at IS NULL`, convID, userID, role)
	return wrap(err, "set role")
}

// AdvanceRead raises last_read_seq monotonically.
func (q queries) AdvanceRead(ctx context.Context, convID, userID string, seq int64) (bool, error) {
	tag, err := q.db.Exec(ctx, `UPDATE members SET last_read_seq = $3
		WHERE conversation_id = $1 AND user_id = $2 AND removed_at IS NULL AND last_read_seq < $3`, convID, userID, seq)
	if err != nil {
		return false, wrap(err, "advance read")
	}
	return tag.RowsAffected() == 1, nil
}
