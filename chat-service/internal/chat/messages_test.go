package chat_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

func TestSendAssignsGapFreeSeqsUnderConcurrency(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	a, b, c := e.user(t, "a"), e.user(t, "b"), e.user(t, "c")
	conv := e.group(t, a, b, c)
	senders := []string{a, b, c}

	const n = 50
	var wg sync.WaitGroup
	seqs := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			m, _, err := e.svc.Send(context.Background(), senders[i%3], chat.NewMessage{
				ConversationID: conv.ID, ClientMsgID: fmt.Sprintf("conc-%d", i), Body: fmt.Sprintf("hello %d", i)})
			seqs[i], errs[i] = m.Seq, err
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("send %d: %v", i, err)
		}
	}
	sort.Slice(seqs, func(i, j int) bool { return seqs[i] < seqs[j] })
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("sorted seqs[%d] = %d, want %d (seqs %v)", i, s, i+1, seqs)
		}
	}
	// The change log is gap-free too: event 1 is the creation, 2..51 the
	// messages, and every event has exactly one outbox row.
	rows := e.outbox(t, conv.ID)
	if len(rows) != n+1 {
		t.Fatalf("outbox rows = %d, want %d", len(rows), n+1)
	}
	seen := map[int64]bool{}
	for _, r := range rows {
		seen[r.Delivery.EventSeq] = true
	}
	for i := int64(1); i <= n+1; i++ {
		if !seen[i] {
			t.Errorf("eventSeq %d missing from outbox", i)
		}
	}
	got, err := e.svc.Conversation(context.Background(), a, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.LastSeq != n || got.LastEventSeq != n+1 {
		t.Errorf("lastSeq, lastEventSeq = %d, %d; want %d, %d", got.LastSeq, got.LastEventSeq, n, n+1)
	}
}

func TestSendIsIdempotentOnClientMsgID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	a, b := e.user(t, "a"), e.user(t, "b")
	conv := e.group(t, a, b)

	const tries = 5
	var wg sync.WaitGroup
	ids := make([]string, tries)
	created := make([]bool, tries)
	errs := make([]error, tries)
	for i := range tries {
		wg.Go(func() {
			m, c, err := e.svc.Send(context.Background(), a, chat.NewMessage{ConversationID: conv.ID, ClientMsgID: "same", Body: "once"})
			ids[i], created[i], errs[i] = m.ID, c, err
		})
	}
	wg.Wait()
	nCreated := 0
	for i := range tries {
		if errs[i] != nil {
			t.Fatalf("send %d: %v", i, errs[i])
		}
		if ids[i] != ids[0] {
			t.Errorf("send %d returned message %s, want %s", i, ids[i], ids[0])
		}
		if created[i] {
			nCreated++
		}
	}
	if nCreated != 1 {
		t.Errorf("created = %d sends, want exactly 1", nCreated)
	}
	// A later retry (e.g. after a reconnect) still returns the original.
	m, c, err := e.svc.Send(context.Background(), a, chat.NewMessage{ConversationID: conv.ID, ClientMsgID: "same", Body: "once"})
	if err != nil || c || m.ID != ids[0] || m.Seq != 1 {
		t.Errorf("retry = (%s seq %d, created %v, %v), want (%s seq 1, false, nil)", m.ID, m.Seq, c, err, ids[0])
	}
	page, err := e.svc.Messages(context.Background(), b, conv.ID, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != 1 {
		t.Errorf("messages = %d, want 1", len(page.Messages))
	}
	if rows := e.outbox(t, conv.ID); len(rows) != 2 { // creation + one message
		t.Errorf("outbox rows = %d, want 2", len(rows))
	}
	// The same key in another conversation is a conflict, not a new message.
	other := e.group(t, a, b)
	_, _, err = e.svc.Send(context.Background(), a, chat.NewMessage{ConversationID: other.ID, ClientMsgID: "same", Body: "x"})
	if !errors.Is(err, chat.ErrClientIDReused) {
		t.Errorf("reuse in another conversation: err = %v, want ErrClientIDReused", err)
	}
}

func TestNonMembersGetNotFound(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	a, b, outsider := e.user(t, "a"), e.user(t, "b"), e.user(t, "mallory")
	conv := e.group(t, a, b)
	msg := e.send(t, a, conv.ID, "secret")
	ctx := context.Background()
	forged := "0190b6c4-0000-7000-8000-000000000000"

	cases := []struct {
		name string
		call func(user, convID string) error
	}{
		{"get", func(u, c string) error { _, err := e.svc.Conversation(ctx, u, c); return err }},
		{"list messages", func(u, c string) error { _, err := e.svc.Messages(ctx, u, c, 0, 0, 10); return err }},
		{"send", func(u, c string) error {
			_, _, err := e.svc.Send(ctx, u, chat.NewMessage{ConversationID: c, ClientMsgID: "x-" + c, Body: "hi"})
			return err
		}},
		{"edit", func(u, c string) error { _, err := e.svc.Edit(ctx, u, c, msg.ID, "x"); return err }},
		{"delete", func(u, c string) error { _, err := e.svc.Delete(ctx, u, c, msg.ID); return err }},
		{"react", func(u, c string) error { _, err := e.svc.React(ctx, u, c, msg.ID, "👍", true); return err }},
		{"read", func(u, c string) error { _, err := e.svc.MarkRead(ctx, u, c, 1); return err }},
		{"rename", func(u, c string) error { _, err := e.svc.Rename(ctx, u, c, "pwned"); return err }},
		{"add members", func(u, c string) error { _, err := e.svc.AddMembers(ctx, u, c, []string{u}, ""); return err }},
		{"remove member", func(u, c string) error { return e.svc.RemoveMember(ctx, u, c, a) }},
		{"typing", func(u, c string) error { return e.svc.Typing(ctx, u, c, true) }},
	}
	for _, tc := range cases {
		for _, target := range []struct{ what, id string }{{"real", conv.ID}, {"forged", forged}, {"malformed", "not-a-uuid"}} {
			t.Run(tc.name+"/"+target.what, func(t *testing.T) {
				if err := tc.call(outsider, target.id); !errors.Is(err, chat.ErrNotFound) {
					t.Errorf("err = %v, want ErrNotFound", err)
				}
			})
		}
	}
	// Nothing the outsider tried changed anything.
	got, err := e.svc.Conversation(ctx, a, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.Title != "team" || got.LastSeq != 1 || len(got.Members) != 2 {
		t.Errorf("conversation changed: title %q lastSeq %d members %d", got.Title, got.LastSeq, len(got.Members))
	}
}

func TestSendValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	a, b := e.user(t, "a"), e.user(t, "b")
	conv := e.group(t, a, b)
	cases := []struct {
		name      string
		in        chat.NewMessage
		wantField string // "" means accepted
	}{
		{"ok", chat.NewMessage{ClientMsgID: "v1", Body: "hi"}, ""},
		{"4000 chars", chat.NewMessage{ClientMsgID: "v2", Body: strings.Repeat("é", 4000)}, ""},
		{"4001 chars", chat.NewMessage{ClientMsgID: "v3", Body: strings.Repeat("a", 4001)}, "body"},
		{"blank body", chat.NewMessage{ClientMsgID: "v4", Body: "  \n"}, "body"},
		{"NUL in body", chat.NewMessage{ClientMsgID: "v5", Body: "a\x00b"}, "body"},
		{"missing clientMsgId", chat.NewMessage{Body: "hi"}, "clientMsgId"},
		{"65-char clientMsgId", chat.NewMessage{ClientMsgID: strings.Repeat("k", 65), Body: "hi"}, "clientMsgId"},
		{"64-char clientMsgId", chat.NewMessage{ClientMsgID: strings.Repeat("k", 64), Body: "hi"}, ""},
		{"bad replyToId", chat.NewMessage{ClientMsgID: "v6", Body: "hi", ReplyToID: "nope"}, "replyToId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.in.ConversationID = conv.ID
			_, _, err := e.svc.Send(context.Background(), a, tc.in)
			if tc.wantField == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				return
			}
			var de *chat.Error
			if !errors.As(err, &de) || de.Kind != chat.KindInvalid {
				t.Fatalf("err = %v, want a validation error", err)
			}
			if len(de.Fields) == 0 || de.Fields[0].Field != tc.wantField {
				t.Errorf("fields = %+v, want %q first", de.Fields, tc.wantField)
			}
		})
	}
	// A well-formed replyToId of no message here is an unknown reference (422).
	elsewhere := chat.NewMessage{ConversationID: conv.ID, ClientMsgID: "v7", Body: "hi", ReplyToID: "0190b6c4-0000-7000-8000-000000000000"}
	_, _, err := e.svc.Send(context.Background(), a, elsewhere)
	var de *chat.Error
	if !errors.As(err, &de) || de.Kind != chat.KindUnknownReference || de.Code != "message_not_found" ||
		len(de.Fields) != 1 || de.Fields[0].Field != "replyToId" {
		t.Errorf("replyToId elsewhere: err = %v (%+v), want message_not_found naming replyToId", err, de)
	}
	// Refused sends took no seq: the accepted ones are 1..3.
	page, err := e.svc.Messages(context.Background(), a, conv.ID, 0, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range page.Messages {
		if m.Seq != int64(i+1) {
			t.Errorf("message %d has seq %d, want %d", i, m.Seq, i+1)
		}
	}
}

func TestFloodControl(t *testing.T) {
	t.Parallel()
	cfg := unlimited()
	// A slow refill (1/s) keeps the count independent of how fast this
	// machine runs the sends; the exact bucket arithmetic is tested with a
	// fake clock in limiter_test.go.
	cfg.MessageRate, cfg.MessageBurst = 1, 20
	e := newEnv(t, cfg)
	a, b := e.user(t, "a"), e.user(t, "b")
	conv := e.group(t, a, b)
	var limited *chat.Error
	sent := 0
	start := time.Now()
	for i := range 40 {
		_, _, err := e.svc.Send(context.Background(), a, chat.NewMessage{ConversationID: conv.ID, ClientMsgID: fmt.Sprintf("f%d", i), Body: "spam"})
		if err != nil {
			if !errors.As(err, &limited) || limited.Kind != chat.KindRateLimited {
				t.Fatalf("send %d: err = %v, want rate limited", i, err)
			}
			break
		}
		sent++
	}
	if limited == nil {
		t.Fatalf("40 sends in a row were all accepted; want rate limiting after the burst of 20")
	}
	refilled := int(time.Since(start).Seconds()) + 1
	if sent < 20 || sent > 20+refilled {
		t.Errorf("accepted %d sends before limiting, want the burst of 20 (+%d refilled)", sent, refilled)
	}
	if limited.RetryAfter <= 0 || limited.RetryAfter > time.Second {
		t.Errorf("RetryAfter = %v, want within (0, 1s]", limited.RetryAfter)
	}
	// Another user is not affected, and a retry of an accepted send is
	// answered even while limited.
	if _, _, err := e.svc.Send(context.Background(), b, chat.NewMessage{ConversationID: conv.ID, ClientMsgID: "b1", Body: "hi"}); err != nil {
		t.Errorf("other user's send: %v", err)
	}
	if _, created, err := e.svc.Send(context.Background(), a, chat.NewMessage{ConversationID: conv.ID, ClientMsgID: "f0", Body: "spam"}); err != nil || created {
		t.Errorf("retry while limited = (created %v, %v), want the original", created, err)
	}
}
