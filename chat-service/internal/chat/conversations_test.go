package chat_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

func TestDirectConversationIsIdempotentPerPair(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := context.Background()
	a, b := e.user(t, "a"), e.user(t, "b")
	first, created, err := e.svc.CreateConversation(ctx, a, chat.NewConversation{Kind: chat.KindDirect, Members: []string{b}})
	if err != nil || !created {
		t.Fatalf("first create = created %v, %v; want created", created, err)
	}
	again, created, err := e.svc.CreateConversation(ctx, b, chat.NewConversation{Kind: chat.KindDirect, Members: []string{a}})
	if err != nil || created || again.ID != first.ID {
		t.Fatalf("reverse create = (%s, created %v, %v), want (%s, false, nil)", again.ID, created, err, first.ID)
	}
	if len(first.Members) != 2 || first.Kind != chat.KindDirect {
		t.Errorf("direct conversation = %+v, want 2 members", first)
	}
	if _, err := e.svc.AddMembers(ctx, a, first.ID, []string{e.user(t, "c")}, ""); !errors.Is(err, chat.ErrDirectFixed) {
		t.Errorf("adding to a direct conversation: err = %v, want ErrDirectFixed", err)
	}
	if rows := e.outbox(t, first.ID); len(rows) != 1 || rows[0].RoutingKey != "chat.conversation.created.v1" {
		t.Errorf("outbox = %+v, want one chat.conversation.created.v1", rows)
	}
}

func TestCreateConversationValidation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	a, b := e.user(t, "a"), e.user(t, "b")
	many := make([]string, 256)
	for i := range many {
		many[i] = fmt.Sprintf("0190b6c4-0000-7000-8000-%012d", i)
	}
	cases := []struct {
		name      string
		in        chat.NewConversation
		wantField string
	}{
		{"direct with self", chat.NewConversation{Kind: chat.KindDirect, Members: []string{a}}, "members"},
		{"direct with two", chat.NewConversation{Kind: chat.KindDirect, Members: []string{b, e.user(t, "c")}}, "members"},
		{"malformed user", chat.NewConversation{Kind: chat.KindGroup, Title: "t", Members: []string{"x"}}, "members[0]"},
		{"group without title", chat.NewConversation{Kind: chat.KindGroup, Members: []string{b}}, "title"},
		{"group title 101", chat.NewConversation{Kind: chat.KindGroup, Title: strings.Repeat("t", 101), Members: []string{b}}, "title"},
		{"group of 257", chat.NewConversation{Kind: chat.KindGroup, Title: "big", Members: many}, "members"},
		{"bad kind", chat.NewConversation{Kind: "channel", Members: []string{b}}, "kind"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := e.svc.CreateConversation(context.Background(), a, tc.in)
			var de *chat.Error
			if !errors.As(err, &de) || de.Kind != chat.KindInvalid {
				t.Fatalf("err = %v, want a validation error", err)
			}
			if de.Fields[0].Field != tc.wantField {
				t.Errorf("fields = %+v, want %q first", de.Fields, tc.wantField)
			}
		})
	}

	// A well-formed id of no user is an unknown reference (422), naming the field.
	unknown := chat.NewConversation{Kind: chat.KindDirect, Members: []string{"0190b6c4-0000-7000-8000-000000000001"}}
	_, _, err := e.svc.CreateConversation(context.Background(), a, unknown)
	var de *chat.Error
	if !errors.As(err, &de) || de.Kind != chat.KindUnknownReference || de.Code != "user_not_found" ||
		len(de.Fields) != 1 || de.Fields[0].Field != "members[0]" {
		t.Errorf("unknown user: err = %v (%+v), want user_not_found naming members[0]", err, de)
	}
}

func TestRolesGovernGroupChanges(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := context.Background()
	owner, admin, m1, m2, newbie := e.user(t, "owner"), e.user(t, "admin"), e.user(t, "m1"), e.user(t, "m2"), e.user(t, "newbie")
	conv := e.group(t, owner, m1, m2)
	if _, err := e.svc.AddMembers(ctx, owner, conv.ID, []string{admin}, chat.RoleAdmin); err != nil {
		t.Fatalf("owner adds admin: %v", err)
	}
	cases := []struct {
		name string
		call func() error
		want error
	}{
		{"member renames", func() error { _, err := e.svc.Rename(ctx, m1, conv.ID, "x"); return err }, chat.ErrForbidden},
		{"member adds", func() error { _, err := e.svc.AddMembers(ctx, m1, conv.ID, []string{newbie}, ""); return err }, chat.ErrForbidden},
		{"admin adds an admin", func() error {
			_, err := e.svc.AddMembers(ctx, admin, conv.ID, []string{newbie}, chat.RoleAdmin)
			return err
		}, chat.ErrForbidden},
		{"member removes other", func() error { return e.svc.RemoveMember(ctx, m1, conv.ID, m2) }, chat.ErrForbidden},
		{"admin removes owner", func() error { return e.svc.RemoveMember(ctx, admin, conv.ID, owner) }, chat.ErrForbidden},
		{"member deletes other's message", func() error {
			m := e.send(t, m2, conv.ID, "mine")
			_, err := e.svc.Delete(ctx, m1, conv.ID, m.ID)
			return err
		}, chat.ErrForbidden},
		{"member edits other's message", func() error {
			m := e.send(t, m2, conv.ID, "mine")
			_, err := e.svc.Edit(ctx, m1, conv.ID, m.ID, "hacked")
			return err
		}, chat.ErrNotAuthor},
		{"admin renames", func() error { _, err := e.svc.Rename(ctx, admin, conv.ID, "by admin"); return err }, nil},
		{"admin adds member", func() error { _, err := e.svc.AddMembers(ctx, admin, conv.ID, []string{newbie}, ""); return err }, nil},
		{"admin deletes other's message", func() error {
			m := e.send(t, m2, conv.ID, "bye")
			_, err := e.svc.Delete(ctx, admin, conv.ID, m.ID)
			return err
		}, nil},
		{"admin removes member", func() error { return e.svc.RemoveMember(ctx, admin, conv.ID, newbie) }, nil},
		{"member leaves", func() error { return e.svc.RemoveMember(ctx, m2, conv.ID, m2) }, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if (tc.want == nil && err != nil) || (tc.want != nil && !errors.Is(err, tc.want)) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	// The owner leaves: the admin takes over.
	if err := e.svc.RemoveMember(ctx, owner, conv.ID, owner); err != nil {
		t.Fatal(err)
	}
	got, err := e.svc.Conversation(ctx, admin, conv.ID)
	if err != nil {
		t.Fatal(err)
	}
	roles := map[string]chat.Role{}
	for _, m := range got.Members {
		roles[m.UserID] = m.Role
	}
	if roles[admin] != chat.RoleOwner || len(roles) != 2 {
		t.Errorf("after the owner left: roles %v, want admin promoted to owner and 2 members", roles)
	}
	// The removed user's last delivery includes them as a recipient.
	rows := e.outbox(t, conv.ID)
	last := rows[len(rows)-1]
	if last.RoutingKey != "chat.members.changed.v1" || !contains(last.Delivery.Recipients, owner) {
		t.Errorf("last event %s recipients %v, want members.changed to the leaving owner too", last.RoutingKey, last.Delivery.Recipients)
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestReadPositionsAndUnreadCounts(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := context.Background()
	a, b := e.user(t, "a"), e.user(t, "b")
	conv := e.group(t, a, b)
	for range 5 {
		e.send(t, a, conv.ID, "hi")
	}
	e.send(t, b, conv.ID, "own messages are never unread")
	unread := func() int64 {
		t.Helper()
		c, err := e.svc.Conversation(ctx, b, conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		return *c.UnreadCount
	}
	if got := unread(); got != 5 {
		t.Errorf("unread = %d, want 5", got)
	}
	steps := []struct {
		seq, wantSeq, wantUnread int64
	}{
		{3, 3, 2},
		{2, 3, 2},  // never goes back
		{99, 6, 0}, // clamped to the last message
	}
	for _, s := range steps {
		r, err := e.svc.MarkRead(ctx, b, conv.ID, s.seq)
		if err != nil {
			t.Fatal(err)
		}
		if r.Seq != s.wantSeq || unread() != s.wantUnread {
			t.Errorf("MarkRead(%d) = seq %d unread %d, want %d and %d", s.seq, r.Seq, unread(), s.wantSeq, s.wantUnread)
		}
	}
	if _, err := e.svc.MarkRead(ctx, b, conv.ID, -1); kindOf(err) != chat.KindInvalid {
		t.Errorf("MarkRead(-1) err = %v, want validation", err)
	}
}

func TestConversationListPagesByActivity(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := context.Background()
	a, b := e.user(t, "a"), e.user(t, "b")
	var ids []string
	for range 5 {
		ids = append(ids, e.group(t, a, b).ID)
	}
	e.send(t, b, ids[0], "bump the oldest to the top")
	want := []string{ids[0], ids[4], ids[3], ids[2], ids[1]}
	var got []string
	cursor := ""
	for page := 0; ; page++ {
		p, err := e.svc.Conversations(ctx, a, cursor, 2)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range p.Conversations {
			got = append(got, c.ID)
		}
		if p.NextCursor == "" {
			break
		}
		if page > 5 {
			t.Fatal("pagination does not end")
		}
		cursor = p.NextCursor
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("order = %v, want %v", got, want)
	}
	p, err := e.svc.Conversations(ctx, a, "", 1)
	if err != nil {
		t.Fatal(err)
	}
	top := p.Conversations[0]
	if top.LastMessage == nil || top.LastMessage.Body != "bump the oldest to the top" || *top.UnreadCount != 1 {
		t.Errorf("top = last message %+v unread %v, want the bump message and 1 unread", top.LastMessage, *top.UnreadCount)
	}
	if _, err := e.svc.Conversations(ctx, a, "garbage", 10); kindOf(err) != chat.KindInvalid {
		t.Errorf("bad cursor err = %v, want validation", err)
	}
}

func TestMessagePagingAndSearch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := context.Background()
	a, b, c := e.user(t, "a"), e.user(t, "b"), e.user(t, "c")
	conv := e.group(t, a, b)
	for i := 1; i <= 7; i++ {
		e.send(t, a, conv.ID, fmt.Sprintf("message number %d", i))
	}
	other := e.group(t, c, a)
	e.send(t, c, other.ID, "number in a conversation b is not in")

	cases := []struct {
		name          string
		before, after int64
		limit         int
		wantFirst     int64
		wantLen       int
		wantMore      bool
	}{
		{"latest", 0, 0, 3, 5, 3, true},
		{"before", 5, 0, 3, 2, 3, true},
		{"before start", 3, 0, 3, 1, 2, false},
		{"after", 0, 2, 3, 3, 3, true},
		{"after end", 0, 5, 3, 6, 2, false},
		{"between", 6, 2, 3, 3, 3, false},
		{"between, paged", 7, 1, 3, 2, 3, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := e.svc.Messages(ctx, b, conv.ID, tc.before, tc.after, tc.limit)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Messages) != tc.wantLen || p.Messages[0].Seq != tc.wantFirst || p.HasMore != tc.wantMore {
				t.Errorf("page = %d messages from seq %d, more %v; want %d from %d, more %v",
					len(p.Messages), p.Messages[0].Seq, p.HasMore, tc.wantLen, tc.wantFirst, tc.wantMore)
			}
			for i := 1; i < len(p.Messages); i++ {
				if p.Messages[i].Seq != p.Messages[i-1].Seq+1 {
					t.Errorf("seqs not ascending and contiguous at %d", i)
				}
			}
		})
	}
	if _, err := e.svc.Messages(ctx, b, conv.ID, 0, 0, 101); kindOf(err) != chat.KindInvalid {
		t.Errorf("limit 101 err = %v, want validation", err)
	}

	res, err := e.svc.Search(ctx, b, "number", "", 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Messages) != 4 || res.NextCursor == "" || res.Messages[0].Body != "message number 7" {
		t.Fatalf("search page 1 = %d results, cursor %q; want 4 newest of b's 7 with a cursor", len(res.Messages), res.NextCursor)
	}
	res2, err := e.svc.Search(ctx, b, "number", res.NextCursor, 4)
	if err != nil {
		t.Fatal(err)
	}
	if len(res2.Messages) != 3 || res2.NextCursor != "" {
		t.Errorf("search page 2 = %d results, cursor %q; want the 3 remaining and no cursor", len(res2.Messages), res2.NextCursor)
	}
	for _, m := range append(res.Messages, res2.Messages...) {
		if m.ConversationID != conv.ID {
			t.Errorf("search returned message from conversation %s b is not in", m.ConversationID)
		}
	}
	if _, err := e.svc.Search(ctx, b, "  ", "", 10); kindOf(err) != chat.KindInvalid {
		t.Errorf("blank query err = %v, want validation", err)
	}
}

func TestValidEmoji(t *testing.T) {
	t.Parallel()
	cases := map[string]bool{
		"👍": true, "❤️": true, "👍🏽": true, "👨‍👩‍👧": true, "🇫🇷": true, "1️⃣": true, "©️": true,
		"": false, "a": false, "lol": false, "1": false, "👍 ": false, "<script>": false,
		"👍/": false, strings.Repeat("👍", 9): false, "\x00": false,
	}
	for in, want := range cases {
		if got := chat.ValidEmoji(in); got != want {
			t.Errorf("ValidEmoji(%q) = %v, want %v", in, got, want)
		}
	}
}
