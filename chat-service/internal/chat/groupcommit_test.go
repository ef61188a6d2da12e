package chat_test

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// TestGroupCommitKeepsSequencesGapFree sends from many users into a few
// conversations at once, so sends share batches, and checks per
// conversation: message seqs 1..n and eventSeqs 1..n+created without gaps,
// the change log and the outbox holding exactly one row per message in
// eventSeq order, and each sender's messages in the order they were sent.
func TestGroupCommitKeepsSequencesGapFree(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	const senders, perSender, convs = 24, 15, 3
	users := make([]string, senders)
	for i := range users {
		users[i] = e.user(t, fmt.Sprintf("gc%d", i))
	}
	conversations := make([]chat.Conversation, convs)
	for i := range conversations {
		conversations[i] = e.group(t, users[0], users[1:]...)
	}
	ctx := context.Background()
	sent := make([][]chat.Message, senders)
	var wg sync.WaitGroup
	for u := range senders {
		wg.Go(func() {
			for k := range perSender {
				conv := conversations[(u+k)%convs].ID
				m, created, err := e.svc.Send(ctx, users[u], chat.NewMessage{ConversationID: conv,
					ClientMsgID: fmt.Sprintf("gc-%d-%d", u, k), Body: fmt.Sprintf("%d/%d", u, k)})
				if err != nil || !created {
					t.Errorf("Send(%d, %d) = created %v, %v; want created", u, k, created, err)
					return
				}
				sent[u] = append(sent[u], m)
			}
		})
	}
	wg.Wait()
	total := 0
	for _, c := range conversations {
		page := e.stored(t, c.ID)
		base := c.LastEventSeq
		for i, m := range page.Messages {
			if m.Seq != int64(i+1) || m.EventSeq != base+int64(i+1) {
				t.Fatalf("conversation %s message %d: seq %d eventSeq %d, want %d and %d", c.ID, i, m.Seq, m.EventSeq, i+1, base+int64(i+1))
			}
		}
		out := e.outbox(t, c.ID)
		created := len(out) - len(page.Messages)
		for i, r := range out[created:] {
			if r.Delivery.EventSeq != base+int64(i+1) {
				t.Fatalf("conversation %s outbox row %d: eventSeq %d, want %d", c.ID, i, r.Delivery.EventSeq, base+int64(i+1))
			}
		}
		var logged int
		if err := e.pool.QueryRow(ctx, `SELECT count(*) FROM conversation_events WHERE conversation_id = $1 AND event_seq > $2`,
			c.ID, base).Scan(&logged); err != nil {
			t.Fatal(err)
		}
		if logged != len(page.Messages) {
			t.Errorf("conversation %s: %d change-log rows for %d messages", c.ID, logged, len(page.Messages))
		}
		total += len(page.Messages)
	}
	if total != senders*perSender {
		t.Errorf("stored %d messages, want %d", total, senders*perSender)
	}
	for u, list := range sent {
		for i := 1; i < len(list); i++ {
			if list[i].ConversationID == list[i-1].ConversationID && list[i].Seq <= list[i-1].Seq {
				t.Errorf("sender %d: message %d has seq %d after %d", u, i, list[i].Seq, list[i-1].Seq)
			}
		}
	}
}

// TestConcurrentDuplicateSendsStoreOnce sends the same clientMsgId many
// times at once (they land in different batches, since a batch never holds
// one key twice) and checks that exactly one send created the message,
// every answer is that message, and one seq was used.
func TestConcurrentDuplicateSendsStoreOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	alice, bob := e.user(t, "dupa"), e.user(t, "dupb")
	c := e.group(t, alice, bob)
	ctx := context.Background()
	const n = 30
	type answer struct {
		m       chat.Message
		created bool
		err     error
	}
	answers := make([]answer, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			// Other traffic in the same conversation fills the batches around
			// the duplicates.
			if _, _, err := e.svc.Send(ctx, bob, chat.NewMessage{ConversationID: c.ID, ClientMsgID: fmt.Sprintf("filler-%d", i), Body: "x"}); err != nil {
				t.Errorf("filler send: %v", err)
			}
			m, created, err := e.svc.Send(ctx, alice, chat.NewMessage{ConversationID: c.ID, ClientMsgID: "same-key", Body: "once"})
			answers[i] = answer{m, created, err}
		})
	}
	wg.Wait()
	createdCount := 0
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("send %d: %v", i, a.err)
		}
		if a.created {
			createdCount++
		}
		if a.m.ID != answers[0].m.ID || a.m.Seq != answers[0].m.Seq {
			t.Errorf("send %d answered message %s seq %d, want %s seq %d", i, a.m.ID, a.m.Seq, answers[0].m.ID, answers[0].m.Seq)
		}
	}
	if createdCount != 1 {
		t.Errorf("%d sends reported created, want 1", createdCount)
	}
	page := e.stored(t, c.ID)
	if len(page.Messages) != n+1 {
		t.Errorf("%d messages stored, want %d (fillers plus one)", len(page.Messages), n+1)
	}
	for i, m := range page.Messages {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d: gap", i, m.Seq)
		}
	}
}

// TestFailedStatementFailsOnlyItsSend makes the database refuse one body
// (a trigger raising an error) and sends it among many valid sends, a
// non-member's send and a reply to nothing, all at once: the batch holding
// the poison fails, its sends are retried one by one, and only the poison
// and the two invalid sends fail, each with its own error.
func TestFailedStatementFailsOnlyItsSend(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := context.Background()
	if _, err := e.pool.Exec(ctx, `CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.body = 'poison' THEN RAISE EXCEPTION 'poison refused'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER refuse_poison BEFORE INSERT ON messages FOR EACH ROW EXECUTE FUNCTION refuse_poison();`); err != nil {
		t.Fatal(err)
	}
	alice, bob, stranger := e.user(t, "pa"), e.user(t, "pb"), e.user(t, "ps")
	c := e.group(t, alice, bob)
	const valid = 40
	var wg sync.WaitGroup
	errs := make([]error, valid)
	var poisonErr, strangerErr, replyErr error
	start := make(chan struct{})
	for i := range valid {
		wg.Go(func() {
			<-start
			_, _, errs[i] = e.svc.Send(ctx, []string{alice, bob}[i%2], chat.NewMessage{ConversationID: c.ID, ClientMsgID: fmt.Sprintf("v-%d", i), Body: "fine"})
		})
	}
	wg.Go(func() {
		<-start
		_, _, poisonErr = e.svc.Send(ctx, alice, chat.NewMessage{ConversationID: c.ID, ClientMsgID: "p", Body: "poison"})
	})
	wg.Go(func() {
		<-start
		_, _, strangerErr = e.svc.Send(ctx, stranger, chat.NewMessage{ConversationID: c.ID, ClientMsgID: "s", Body: "hi"})
	})
	wg.Go(func() {
		<-start
		_, _, replyErr = e.svc.Send(ctx, bob, chat.NewMessage{ConversationID: c.ID, ClientMsgID: "r", Body: "re",
			ReplyToID: "01890a5d-ac96-774b-bcce-b302099a8057"})
	})
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("valid send %d: %v", i, err)
		}
	}
	if p := chat.Problem(poisonErr); poisonErr == nil || p.Status != 500 {
		t.Errorf("poison send: %v, want a 500", poisonErr)
	}
	if kindOf(strangerErr) != chat.KindNotFound {
		t.Errorf("stranger's send: %v, want not found", strangerErr)
	}
	if kindOf(replyErr) != chat.KindUnknownReference {
		t.Errorf("reply to nothing: %v, want unknown reference", replyErr)
	}
	page := e.stored(t, c.ID)
	if len(page.Messages) != valid {
		t.Fatalf("%d messages stored, want %d", len(page.Messages), valid)
	}
	for i, m := range page.Messages {
		if m.Seq != int64(i+1) {
			t.Fatalf("message %d has seq %d: gap", i, m.Seq)
		}
	}
}

// storedPage is every message of a conversation in seq order.
type storedPage struct{ Messages []chat.Message }

// stored reads every message of a conversation straight from the table.
func (e *env) stored(t *testing.T, convID string) storedPage {
	t.Helper()
	rows, err := e.pool.Query(context.Background(), `SELECT seq, event_seq FROM messages WHERE conversation_id = $1 ORDER BY seq`, convID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var p storedPage
	for rows.Next() {
		var m chat.Message
		if err := rows.Scan(&m.Seq, &m.EventSeq); err != nil {
			t.Fatal(err)
		}
		p.Messages = append(p.Messages, m)
	}
	return p
}
