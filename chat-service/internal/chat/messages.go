package chat

import (
	"context"
	"errors"
	"slices"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/input"
)

// NewMessage is a send request. ClientMsgID is the client's idempotency
// key: retrying with the same one returns the original message.
type NewMessage struct {
	ConversationID string
	ClientMsgID    string
	Body           string
	ReplyToID      string
}

// Send stores a message. created is false when the same sender already sent
// ClientMsgID: the original message is returned and nothing changes, so a
// client may retry across timeouts and reconnects safely.
func (s *Service) Send(ctx context.Context, userID string, in NewMessage) (msg Message, created bool, err error) {
	convID, ok := input.ParseID(in.ConversationID)
	if !ok {
		return Message{}, false, ErrNotFound
	}
	var f fields
	checkClientMsgID(&f, "clientMsgId", in.ClientMsgID)
	checkBody(&f, "body", in.Body)
	var replyTo *string
	if in.ReplyToID != "" {
		if id, ok := input.ParseID(in.ReplyToID); ok {
			replyTo = &id
		} else {
			f.add("replyToId", "must be a message id")
		}
	}
	if err := f.err(); err != nil {
		return Message{}, false, err
	}
	p := &pendingSend{ctx: ctx, userID: userID, convID: convID, in: in, replyTo: replyTo, done: make(chan sendResult, 1)}
	if err := s.sends.submit(p); err != nil {
		return Message{}, false, err
	}
	var r sendResult
	select {
	case r = <-p.done:
	case <-ctx.Done():
		// The caller gave up. If the batch had not begun the send is
		// dropped; if it had, the message may be stored, and a resend with
		// the same clientMsgId returns it.
		return Message{}, false, ctx.Err()
	}
	if r.duplicate {
		m, _, err := s.original(ctx, userID, convID, in.ClientMsgID)
		return m, false, err
	}
	return r.msg, r.created, r.err
}

// sendOne stores one send in a transaction of its own: the path a send
// takes when its batch failed, so that a failing statement fails only the
// send that caused it. charged says flood control already counted it.
func (s *Service) sendOne(ctx context.Context, userID, convID string, in NewMessage, replyTo *string, charged bool) (msg Message, created bool, err error) {
	// A retry is answered before flood control: it costs nothing and a
	// client recovering from a timeout must not be punished for it.
	if m, found, err := s.original(ctx, userID, convID, in.ClientMsgID); found || err != nil {
		return m, false, err
	}
	if !charged {
		if err := s.allowMessage(userID); err != nil {
			return Message{}, false, err
		}
	}
	err = s.store.InTx(ctx, func(tx Tx) error {
		now := s.now()
		seq, eventSeq, err := tx.Bump(ctx, convID, true, now)
		if err != nil {
			return err
		}
		// One query yields both the membership check and the recipients.
		members, err := tx.MemberIDs(ctx, convID)
		if err != nil {
			return err
		}
		if !slices.Contains(members, userID) {
			return ErrNotFound
		}
		if replyTo != nil {
			if _, err := tx.Message(ctx, convID, *replyTo); errors.Is(err, ErrNotFound) {
				// A well-formed id of nothing here: a valid request whose
				// reference is not (422).
				return errReplyNotFound()
			} else if err != nil {
				return err
			}
		}
		id, err := newID()
		if err != nil {
			return err
		}
		msg = Message{ID: id, ConversationID: convID, Seq: seq, EventSeq: eventSeq, SenderID: userID,
			ClientMsgID: in.ClientMsgID, Body: in.Body, ReplyToID: replyTo, CreatedAt: now, Reactions: []Reaction{}}
		inserted, err := tx.InsertMessage(ctx, msg)
		if err != nil {
			return err
		}
		if !inserted {
			// A concurrent send with the same key committed while this one
			// waited for the conversation lock; rolling back returns the
			// seq it took.
			return errConflictingTx
		}
		return s.recordTo(ctx, tx, convID, eventSeq, events.TypeMessageCreated, msg, members)
	})
	if errors.Is(err, errConflictingTx) {
		m, found, err := s.original(ctx, userID, convID, in.ClientMsgID)
		if err == nil && !found {
			err = errors.New("chat: duplicate clientMsgId vanished")
		}
		return m, false, err
	}
	if err != nil {
		return Message{}, false, err
	}
	return msg, true, nil
}

// errReplyNotFound refuses a reply to a message not in the conversation.
func errReplyNotFound() error {
	return &Error{Kind: KindUnknownReference, Code: "message_not_found", Detail: "no message of this conversation has this id",
		Fields: []FieldError{{Field: "replyToId", Message: "no such message in this conversation"}}}
}

// original finds the message already sent with clientMsgID.
func (s *Service) original(ctx context.Context, userID, convID, clientMsgID string) (Message, bool, error) {
	m, err := s.store.MessageByClientID(ctx, userID, clientMsgID)
	switch {
	case errors.Is(err, ErrNotFound):
		return Message{}, false, nil
	case err != nil:
		return Message{}, false, err
	case m.ConversationID != convID:
		return Message{}, true, ErrClientIDReused
	}
	return m, true, nil
}

// Edit replaces the body of the caller's own message.
func (s *Service) Edit(ctx context.Context, userID, convID, msgID, body string) (Message, error) {
	var f fields
	checkBody(&f, "body", body)
	if err := f.err(); err != nil {
		return Message{}, err
	}
	return s.changeMessage(ctx, userID, convID, msgID, events.TypeMessageUpdated, func(tx Tx, me Member, m *Message) error {
		switch {
		case m.SenderID != userID:
			return ErrNotAuthor
		case m.Deleted:
			return ErrMessageDeleted
		case m.Body == body:
			return errRollbackNoError
		}
		now := s.now()
		m.Body, m.EditedAt = body, &now
		return nil
	})
}

// Delete turns a message into a tombstone. Authors may delete their own
// messages; owners and admins of a group may delete any.
func (s *Service) Delete(ctx context.Context, userID, convID, msgID string) (Message, error) {
	return s.changeMessage(ctx, userID, convID, msgID, events.TypeMessageDeleted, func(tx Tx, me Member, m *Message) error {
		switch {
		case m.SenderID != userID && !me.Role.manages():
			return ErrForbidden
		case m.Deleted:
			return errRollbackNoError
		}
		now := s.now()
		m.Body, m.DeletedAt, m.Deleted, m.Reactions = "", &now, true, []Reaction{}
		return tx.DeleteReactions(ctx, m.ID)
	})
}

// React adds (add true) or removes the caller's emoji reaction. Doing it
// twice is harmless and produces no second event.
func (s *Service) React(ctx context.Context, userID, convID, msgID, emoji string, add bool) (Message, error) {
	if !ValidEmoji(emoji) {
		return Message{}, Invalid(FieldError{Field: "emoji", Message: "must be a single emoji of at most 32 bytes"})
	}
	return s.changeMessage(ctx, userID, convID, msgID, events.TypeReactionChanged, func(tx Tx, me Member, m *Message) error {
		if m.Deleted {
			return ErrMessageDeleted
		}
		var changed bool
		var err error
		if add {
			changed, err = tx.AddReaction(ctx, m.ID, userID, emoji, s.now())
		} else {
			changed, err = tx.RemoveReaction(ctx, m.ID, userID, emoji)
		}
		if err != nil {
			return err
		}
		if !changed {
			return errRollbackNoError
		}
		fresh, err := tx.Message(ctx, m.ConversationID, m.ID)
		if err != nil {
			return err
		}
		m.Reactions = fresh.Reactions
		return nil
	})
}

// changeMessage runs one change to an existing message: it takes the next
// eventSeq, checks membership, lets change edit the message (or refuse, or
// report no change), stores it and logs typ with the new message object.
// On no change it returns the message as it is, without an event.
func (s *Service) changeMessage(ctx context.Context, userID, convID, msgID, typ string, change func(Tx, Member, *Message) error) (Message, error) {
	cid, ok := input.ParseID(convID)
	if !ok {
		return Message{}, ErrNotFound
	}
	mid, ok := input.ParseID(msgID)
	if !ok {
		return Message{}, ErrNotFound
	}
	if err := s.allowMessage(userID); err != nil {
		return Message{}, err
	}
	var msg Message
	err := s.store.InTx(ctx, func(tx Tx) error {
		_, eventSeq, err := tx.Bump(ctx, cid, false, s.now())
		if err != nil {
			return err
		}
		me, err := tx.Member(ctx, cid, userID)
		if err != nil {
			return err
		}
		if msg, err = tx.Message(ctx, cid, mid); err != nil {
			return err
		}
		if err := change(tx, me, &msg); err != nil {
			return err
		}
		msg.EventSeq = eventSeq
		if err := tx.UpdateMessage(ctx, msg); err != nil {
			return err
		}
		return s.record(ctx, tx, cid, eventSeq, typ, msg)
	})
	if err != nil && !isNoChange(err) {
		return Message{}, err
	}
	return msg, nil
}

// MarkRead raises the caller's read position to seq (never lowers it;
// values past the last message are clamped to it).
func (s *Service) MarkRead(ctx context.Context, userID, convID string, seq int64) (ReadReceipt, error) {
	cid, ok := input.ParseID(convID)
	if !ok {
		return ReadReceipt{}, ErrNotFound
	}
	if seq < 0 {
		return ReadReceipt{}, Invalid(FieldError{Field: "seq", Message: "must not be negative"})
	}
	var receipt ReadReceipt
	err := s.store.InTx(ctx, func(tx Tx) error {
		lastSeq, eventSeq, err := tx.Bump(ctx, cid, false, s.now())
		if err != nil {
			return err
		}
		me, err := tx.Member(ctx, cid, userID)
		if err != nil {
			return err
		}
		seq = min(seq, lastSeq)
		receipt = ReadReceipt{ConversationID: cid, UserID: userID, Seq: me.LastReadSeq}
		advanced, err := tx.AdvanceRead(ctx, cid, userID, seq)
		if err != nil {
			return err
		}
		if !advanced {
			return errRollbackNoError
		}
		receipt.Seq, receipt.EventSeq = seq, eventSeq
		return s.record(ctx, tx, cid, eventSeq, events.TypeConversationRead, receipt)
	})
	if err != nil && !isNoChange(err) {
		return ReadReceipt{}, err
	}
	return receipt, nil
}
