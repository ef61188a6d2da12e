package chat

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/parleychat/parley/shared/events"
)

// Group commit defaults: batches in flight at once, sends per batch, and
// sends waiting at most (past it a send is refused with ErrOverloaded).
//
// One batch at a time: with two in flight, a batch left as soon as the
// other had taken the queue, so under load the batches were half as big
// (about 4 sends at 1,000 msg/s on the benchmark's shape), each paying its
// own round trips, statements and commit, and the two competed for the
// same CPU and conversation locks. With one, whatever arrives during a
// commit waits at most that commit and goes in the next batch: the
// benchmark sustained more (1,210 to 1,452 msg/s in one run each) with a
// lower ack p99 at 1,000 msg/s (88 to 51 ms).
const (
	sendRunners  = 1
	sendMaxBatch = 128
	sendMaxQueue = 1024
	// batchTimeout bounds one batch's transaction; it does not depend on
	// any one caller's context, so one caller giving up cannot fail the
	// others' sends.
	batchTimeout = 5 * time.Second
)

// commitSends stores a batch of sends in one transaction of two round
// trips: one begins it, locks the conversations and reads members, reply
// targets and existing keys; one writes every row and commits. Sends
// refused by the domain (not a member, unknown reply, flood control,
// duplicate key) are answered without failing the others. If the
// transaction fails, every send that was to be stored is retried in a
// transaction of its own, so a failing statement fails only its own send.
func (s *Service) commitSends(batch []*pendingSend) {
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	results := make([]sendResult, len(batch))
	decided := false
	err := s.store.InSendTx(ctx, func(tx SendTx) error {
		clear(results)
		decided = false
		if err := s.writeBatch(ctx, tx, batch, results); err != nil {
			return err
		}
		decided = true
		return nil
	})
	if err == nil {
		for i, p := range batch {
			p.done <- results[i]
		}
		return
	}
	for i, p := range batch {
		r := results[i]
		if !decided || r.created || (r.err == nil && !r.duplicate) {
			m, created, err := s.sendOne(p.ctx, p.userID, p.convID, p.in, p.replyTo, decided && r.created)
			r = sendResult{msg: m, created: created, err: err}
		}
		p.done <- r
	}
}

// writeBatch decides every send of batch under the conversation locks and
// writes the accepted ones; results[i] is send i's outcome if it commits.
func (s *Service) writeBatch(ctx context.Context, tx SendTx, batch []*pendingSend, results []sendResult) error {
	var q SendLookup
	for _, p := range batch {
		if !slices.Contains(q.ConversationIDs, p.convID) {
			q.ConversationIDs = append(q.ConversationIDs, p.convID)
		}
		if p.replyTo != nil && !slices.Contains(q.ReplyToIDs, *p.replyTo) {
			q.ReplyToIDs = append(q.ReplyToIDs, *p.replyTo)
		}
		q.Keys = append(q.Keys, ClientKey{SenderID: p.userID, ClientMsgID: p.in.ClientMsgID})
	}
	st, err := tx.LockForSends(ctx, q)
	if err != nil {
		return err
	}
	now := s.now()
	sends := make([]StoredSend, 0, len(batch))
	for i, p := range batch {
		if st.Existing[q.Keys[i]] {
			results[i] = sendResult{duplicate: true}
			continue
		}
		c, ok := st.Conversations[p.convID]
		if !ok || !slices.Contains(c.Members, p.userID) {
			results[i] = sendResult{err: ErrNotFound}
			continue
		}
		if p.replyTo != nil && st.ReplyTo[*p.replyTo] != p.convID {
			results[i] = sendResult{err: errReplyNotFound()}
			continue
		}
		if err := s.allowMessage(p.userID); err != nil {
			results[i] = sendResult{err: err}
			continue
		}
		id, err := newID()
		if err != nil {
			return err
		}
		c.LastSeq++
		c.LastEventSeq++
		st.Conversations[p.convID] = c
		msg := Message{ID: id, ConversationID: p.convID, Seq: c.LastSeq, EventSeq: c.LastEventSeq, SenderID: p.userID,
			ClientMsgID: p.in.ClientMsgID, Body: p.in.Body, ReplyToID: p.replyTo, CreatedAt: now, Reactions: []Reaction{}}
		raw, err := json.Marshal(msg)
		if err != nil {
			return fmt.Errorf("chat: encode %s: %w", events.TypeMessageCreated, err)
		}
		sends = append(sends, StoredSend{Ctx: p.ctx, Message: msg, Event: Event{
			ConversationID: p.convID, EventSeq: c.LastEventSeq, Type: events.TypeMessageCreated,
			Payload: raw, CreatedAt: now, Recipients: c.Members,
		}})
		results[i] = sendResult{msg: msg, created: true}
	}
	if len(sends) == 0 {
		return nil
	}
	bumps := make([]SeqBump, 0, len(q.ConversationIDs))
	for _, id := range q.ConversationIDs {
		if c, ok := st.Conversations[id]; ok && slices.ContainsFunc(sends, func(x StoredSend) bool { return x.Message.ConversationID == id }) {
			bumps = append(bumps, SeqBump{ConversationID: id, LastSeq: c.LastSeq, LastEventSeq: c.LastEventSeq, LastActivityAt: now})
		}
	}
	return tx.WriteSends(ctx, bumps, sends)
}
