package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/outbox"
)

// Arrays of ids are sent as text[] and cast to uuid[] by the server: pgx
// has no binary encoding of []string as uuid[] and falls back to text only
// after building (and formatting) an error for the whole array, which cost
// more than the rest of the encoding.

// sendTx is chat.SendTx on one connection. BEGIN is the first statement of
// LockForSends' pipeline and COMMIT the last of WriteSends', so a group
// commit takes two round trips; pgx's own transactions send each on its
// own, four in all, each a write and a wake-up on both sides.
type sendTx struct {
	conn  *pgx.Conn
	state sendTxState
}

type sendTxState int

const (
	sendTxNew  sendTxState = iota // nothing sent yet
	sendTxOpen                    // BEGIN sent: committed or rolled back by InSendTx unless WriteSends commits
	sendTxDone                    // committed by WriteSends
)

var _ chat.SendTx = (*sendTx)(nil)

// InSendTx runs fn in a read-committed transaction that LockForSends
// begins and WriteSends commits. When fn returns nil without WriteSends
// (nothing to store) InSendTx commits; when it fails, InSendTx rolls back,
// and a connection whose state is unknown is closed, never reused.
func (s *Store) InSendTx(ctx context.Context, fn func(chat.SendTx) error) error {
	c, err := s.pool.Acquire(ctx)
	if err != nil {
		return wrap(err, "acquire")
	}
	defer c.Release() // the pool destroys a connection left in a transaction
	t := &sendTx{conn: c.Conn()}
	err = fn(t)
	if t.state != sendTxOpen {
		return err
	}
	if err == nil {
		if _, err := t.conn.Exec(ctx, `COMMIT`); err != nil {
			return wrap(err, "commit")
		}
		return nil
	}
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if _, rerr := t.conn.Exec(rctx, `ROLLBACK`); rerr != nil {
		_ = t.conn.Close(rctx)
	}
	return err
}

// How a send batch's statements are planned. Planning them for their
// arguments each time (custom plans) cost PostgreSQL more than running
// most of them: a sixth of its time on the send path, and the clientMsgId
// lookup alone took 0.12 ms to plan and 0.03 to run. So every statement of
// the batch keeps one generic plan per connection, made once and kept
// until the tables it reads are analysed again.
//
// A generic plan is only as good as the statistics of its moment, and on
// a new database those say the tables are tiny, where scanning them whole
// is the cheapest plan; that plan then stays while the tables grow, until
// the next ANALYZE, which for members may be long in coming. So the batch
// turns sequential scans off (enable_seqscan) for its transaction, and
// each read is written so that an index lookup is the only plan left
// (see the members read, the clientMsgId lookup and the conversation
// update). TestSendBatchPlans checks the plans cached on a new database.
// set_config(…, true) is SET LOCAL: it ends with the transaction, so the
// connection's other statements are planned as PostgreSQL chooses.
const setGenericPlans = `SELECT set_config('plan_cache_mode', 'force_generic_plan', true), set_config('enable_seqscan', 'off', true)`

// LockForSends runs its statements in one round trip. PostgreSQL runs
// pipelined statements one after the other and each takes its own snapshot
// when it starts (read committed), so the member and reply reads see every
// change committed before the conversation locks were granted, exactly as
// Bump followed by MemberIDs does for one send.
func (t *sendTx) LockForSends(ctx context.Context, q chat.SendLookup) (chat.SendState, error) {
	st := chat.SendState{
		Conversations: make(map[string]chat.ConversationSeqs, len(q.ConversationIDs)),
		ReplyTo:       map[string]string{},
		Existing:      map[chat.ClientKey]bool{},
	}
	senders, keys := make([]string, len(q.Keys)), make([]string, len(q.Keys))
	for i, k := range q.Keys {
		senders[i], keys[i] = k.SenderID, k.ClientMsgID
	}
	if t.state != sendTxNew {
		return chat.SendState{}, errors.New("postgres: LockForSends: not the first statement of the transaction")
	}
	b := &pgx.Batch{}
	t.state = sendTxOpen // from here on the connection may be in the transaction
	b.Queue(`BEGIN`)
	b.Queue(setGenericPlans)
	// ORDER BY under FOR UPDATE locks the rows in id order.
	b.Queue(`SELECT id::text, last_seq, last_event_seq FROM conversations
		WHERE id = ANY($1::text[]::uuid[]) ORDER BY id FOR UPDATE`, q.ConversationIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var id string
			var c chat.ConversationSeqs
			if err := rows.Scan(&id, &c.LastSeq, &c.LastEventSeq); err != nil {
				return err
			}
			st.Conversations[id] = c
		}
		return rows.Err()
	})
	// Former members are skipped here, not by the query: with removed_at
	// in the WHERE clause, the generic plan cached on a new database
	// scanned the partial index members_by_user (every current member) and
	// filtered it: 0.225 ms a batch with 400 members, the batch's costliest
	// statement, growing with the table. On conversation_id alone the only
	// index is the primary key.
	b.Queue(`SELECT conversation_id::text, user_id::text, removed_at IS NULL FROM members
		WHERE conversation_id = ANY($1::text[]::uuid[]) ORDER BY conversation_id, user_id`,
		q.ConversationIDs).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var conv, user string
			var current bool
			if err := rows.Scan(&conv, &user, &current); err != nil {
				return err
			}
			if c, ok := st.Conversations[conv]; ok && current {
				c.Members = append(c.Members, user)
				st.Conversations[conv] = c
			}
		}
		return rows.Err()
	})
	// Most batches reply to nothing: the lookup is left out.
	if len(q.ReplyToIDs) > 0 {
		b.Queue(`SELECT id::text, conversation_id::text FROM messages WHERE id = ANY($1::text[]::uuid[])`,
			q.ReplyToIDs).Query(func(rows pgx.Rows) error {
			for rows.Next() {
				var id, conv string
				if err := rows.Scan(&id, &conv); err != nil {
					return err
				}
				st.ReplyTo[id] = conv
			}
			return rows.Err()
		})
	}
	// One probe of the (sender_id, client_msg_id) key per send: as a plain
	// join, the generic plan made on a new database hashed the keys and
	// read the whole index of messages. LATERAL … LIMIT 1 leaves the
	// planner only the per-key lookup.
	b.Queue(`SELECT x.sender_id::text, x.client_msg_id FROM unnest($1::text[]::uuid[], $2::text[]) AS k(sender, cid)
		CROSS JOIN LATERAL (SELECT m.sender_id, m.client_msg_id FROM messages m
			WHERE m.sender_id = k.sender AND m.client_msg_id = k.cid LIMIT 1) x`, senders, keys).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var k chat.ClientKey
			if err := rows.Scan(&k.SenderID, &k.ClientMsgID); err != nil {
				return err
			}
			st.Existing[k] = true
		}
		return rows.Err()
	})
	if err := t.conn.SendBatch(ctx, b).Close(); err != nil {
		return chat.SendState{}, wrap(err, "lock for sends")
	}
	return st, nil
}

// WriteSends writes a batch with one multi-row statement per table, in one
// round trip. Outbox rows are inserted in the order of sends (WITH
// ORDINALITY), which is each conversation's eventSeq order, so the relay
// publishes one conversation's events in order.
func (t *sendTx) WriteSends(ctx context.Context, bumps []chat.SeqBump, sends []chat.StoredSend) error {
	n := len(sends)
	var (
		bIDs              = make([]string, len(bumps))
		bSeqs, bEventSeqs = make([]int64, len(bumps)), make([]int64, len(bumps))
		bAt               = make([]time.Time, len(bumps))

		ids, convs, senders, cids, bodies = make([]string, n), make([]string, n), make([]string, n), make([]string, n), make([]string, n)
		replies                           = make([]*string, n)
		seqs, eventSeqs                   = make([]int64, n), make([]int64, n)
		created                           = make([]time.Time, n)

		types    = make([]string, n)
		payloads = make([][]byte, n)
		evAt     = make([]time.Time, n)

		obIDs, obKeys, obBodies = make([]string, n), make([]string, n), make([][]byte, n)
	)
	for i, bu := range bumps {
		bIDs[i], bSeqs[i], bEventSeqs[i], bAt[i] = bu.ConversationID, bu.LastSeq, bu.LastEventSeq, bu.LastActivityAt
	}
	for i, s := range sends {
		m, ev := s.Message, s.Event
		ids[i], convs[i], senders[i], cids[i], bodies[i] = m.ID, m.ConversationID, m.SenderID, m.ClientMsgID, m.Body
		replies[i], seqs[i], eventSeqs[i], created[i] = m.ReplyToID, m.Seq, m.EventSeq, m.CreatedAt
		types[i], payloads[i], evAt[i] = ev.Type, ev.Payload, ev.CreatedAt
		recipients := ev.Recipients
		if recipients == nil {
			recipients = []string{}
		}
		env, err := events.New(s.Ctx, chat.ServiceName, ev.Type, 1, events.Delivery{
			ConversationID: ev.ConversationID, EventSeq: ev.EventSeq, Recipients: recipients, Payload: ev.Payload,
		})
		if err != nil {
			return err
		}
		body, err := json.Marshal(env)
		if err != nil {
			return fmt.Errorf("postgres: encode %s: %w", env.RoutingKey(), err)
		}
		obIDs[i], obKeys[i], obBodies[i] = env.ID, env.RoutingKey(), body
	}
	if t.state != sendTxOpen {
		return errors.New("postgres: WriteSends: no transaction open by LockForSends")
	}
	b := &pgx.Batch{}
	// c.id = ANY($1) repeats the join condition as an index condition, so
	// the generic plan looks the conversations up by primary key. The join
	// alone was planned on a new database as a hash join over a sequential
	// scan of the whole table (2.3 ms a batch at 20,000 conversations), and
	// without sequential scans it could still read the whole primary key.
	b.Queue(`UPDATE conversations c SET last_seq = u.seq, last_event_seq = u.event_seq, last_activity_at = u.at
		FROM unnest($1::text[]::uuid[], $2::bigint[], $3::bigint[], $4::timestamptz[]) AS u(id, seq, event_seq, at)
		WHERE c.id = u.id AND c.id = ANY($1::text[]::uuid[])`, bIDs, bSeqs, bEventSeqs, bAt)
	b.Queue(`INSERT INTO messages (id, conversation_id, seq, event_seq, sender_id, client_msg_id, body, reply_to_id, created_at)
		SELECT * FROM unnest($1::text[]::uuid[], $2::text[]::uuid[], $3::bigint[], $4::bigint[], $5::text[]::uuid[], $6::text[], $7::text[], $8::text[]::uuid[], $9::timestamptz[])`,
		ids, convs, seqs, eventSeqs, senders, cids, bodies, replies, created)
	b.Queue(`INSERT INTO conversation_events (conversation_id, event_seq, type, payload, created_at)
		SELECT * FROM unnest($1::text[]::uuid[], $2::bigint[], $3::text[], $4::jsonb[], $5::timestamptz[])`,
		convs, eventSeqs, types, payloads, evAt)
	b.Queue(`INSERT INTO outbox (id, exchange, routing_key, aggregate_id, payload)
		SELECT o.id, $2::text, o.key, o.agg, o.payload FROM unnest($1::text[]::uuid[], $3::text[], $4::text[], $5::jsonb[])
			WITH ORDINALITY AS o(id, key, agg, payload, ord) ORDER BY o.ord`,
		obIDs, events.ExchangeChat, obKeys, convs, obBodies)
	b.Queue(`SELECT pg_notify($1, '')`, outbox.NotifyChannel)
	// A failed statement skips the rest of the pipeline, COMMIT included,
	// and leaves the transaction aborted for InSendTx to roll back.
	b.Queue(`COMMIT`)
	if err := t.conn.SendBatch(ctx, b).Close(); err != nil {
		return wrap(err, "write sends")
	}
	t.state = sendTxDone
	return nil
}
