-- +goose Up
-- +goose StatementBegin
-- Every period a user was a member of a conversation, in change-log terms:
-- from the event that added them (the creation for founding members) to the
-- event that removed them, both included; to_event_seq is NULL while they
-- are a member. Sync returns a user only the events inside their periods, so
-- a member added later never reads what was said before, and a removed one
-- nothing after; a re-added member gets a new period.
CREATE TABLE member_periods (
    conversation_id UUID NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
    user_id         UUID NOT NULL,
    from_event_seq  BIGINT NOT NULL,
    to_event_seq    BIGINT,
    PRIMARY KEY (conversation_id, user_id, from_event_seq),
    CHECK (to_event_seq IS NULL OR to_event_seq >= from_event_seq)
);
-- At most one open period per member.
CREATE UNIQUE INDEX member_periods_open ON member_periods (conversation_id, user_id) WHERE to_event_seq IS NULL;
CREATE INDEX member_periods_by_user ON member_periods (user_id);

-- Existing memberships: the period starts at the first logged event at or
-- after the member joined (the change that added them is logged after
-- joined_at is set); with the log pruned that far, after its last event.
INSERT INTO member_periods (conversation_id, user_id, from_event_seq, to_event_seq)
SELECT m.conversation_id, m.user_id,
       LEAST(coalesce((SELECT min(e.event_seq) FROM conversation_events e
                        WHERE e.conversation_id = m.conversation_id AND e.created_at >= m.joined_at),
                      c.last_event_seq + 1),
             coalesce(m.removed_event_seq, c.last_event_seq + 1)),
       m.removed_event_seq
FROM members m JOIN conversations c ON c.id = m.conversation_id;
-- +goose StatementEnd

