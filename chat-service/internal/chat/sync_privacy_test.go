package chat_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// TestSyncAgreesWithREST makes every kind of change, then checks for each
// user that sync from 0 shows exactly what REST shows them now (each
// message as history has it, the conversation as GET shows it) and nothing
// from outside their membership periods.
func TestSyncAgreesWithREST(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := context.Background()
	a, b, gone, back, late := e.user(t, "a"), e.user(t, "b"), e.user(t, "gone"), e.user(t, "back"), e.user(t, "late")
	conv := e.group(t, a, b, gone, back) // conversation:created
	head := func() int64 {
		t.Helper()
		c, err := e.svc.Conversation(ctx, a, conv.ID)
		if err != nil {
			t.Fatal(err)
		}
		return c.LastEventSeq
	}

	edited := e.send(t, a, conv.ID, "original text")                  // message:new
	mustOK(t)(e.svc.Edit(ctx, a, conv.ID, edited.ID, "first edit"))   // message:updated
	doomed := e.send(t, b, conv.ID, "deleted text")                   // message:new
	mustOK(t)(e.svc.Delete(ctx, b, conv.ID, doomed.ID))               // message:deleted
	mustOK(t)(e.svc.React(ctx, b, conv.ID, edited.ID, "👍", true))     // reaction add
	mustOK(t)(e.svc.React(ctx, b, conv.ID, edited.ID, "👍", false))    // reaction remove
	mustOK(t)(e.svc.React(ctx, gone, conv.ID, edited.ID, "🎉", true))  // reaction add
	mustOK(t)(e.svc.MarkRead(ctx, b, conv.ID, edited.Seq))            // conversation:read
	mustOK(t)(e.svc.Rename(ctx, a, conv.ID, "old title"))             // conversation:updated
	if err := e.svc.RemoveMember(ctx, a, conv.ID, back); err != nil { // member remove
		t.Fatal(err)
	}
	backLeft := head()
	away := e.send(t, a, conv.ID, "said while back was away")
	mustOK(t)(e.svc.AddMembers(ctx, a, conv.ID, []string{back}, "")) // member re-add
	backReturned := head()
	mustOK(t)(e.svc.AddMembers(ctx, a, conv.ID, []string{late}, "")) // member add, after the deletion
	lateJoined := head()
	if err := e.svc.RemoveMember(ctx, gone, conv.ID, gone); err != nil { // member leaves
		t.Fatal(err)
	}
	goneLeft := head()
	mustOK(t)(e.svc.Edit(ctx, a, conv.ID, edited.ID, "edited after gone left"))
	e.send(t, a, conv.ID, "said after gone left")
	mustOK(t)(e.svc.Rename(ctx, a, conv.ID, "new title"))
	last := head()

	// Text REST no longer shows anyone; sync must not show it either. The
	// old title is what gone saw last as a member, so only the others must
	// not get it back.
	hidden := []string{"original text", "first edit", "deleted text"}
	renamed := []string{"old title"}

	// inPeriods reports whether eventSeq lies in one of periods (from, to).
	type period struct{ from, to int64 }
	cases := []struct {
		user    string
		periods []period
		// also hidden from this user only.
		hidden []string
	}{
		{user: b, periods: []period{{1, last}}, hidden: renamed},
		{user: back, periods: []period{{1, backLeft}, {backReturned, last}}, hidden: renamed},
		{user: late, periods: []period{{lateJoined, last}}, hidden: renamed},
		{user: gone, periods: []period{{1, goneLeft}}, hidden: []string{"edited after gone left", "said after gone left", "new title"}},
	}
	for _, tc := range cases {
		res, err := e.svc.Sync(ctx, tc.user, map[string]int64{conv.ID: 0})
		if err != nil {
			t.Fatalf("Sync(%s): %v", tc.user, err)
		}
		member := tc.user != gone
		var history map[string]chat.Message
		var rest chat.Conversation
		if member {
			page, err := e.svc.Messages(ctx, tc.user, conv.ID, 0, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			history = map[string]chat.Message{}
			for _, m := range page.Messages {
				history[m.ID] = m
			}
			if rest, err = e.svc.Conversation(ctx, tc.user, conv.ID); err != nil {
				t.Fatal(err)
			}
		}
		for _, ev := range res.Events {
			in := false
			for _, p := range tc.periods {
				in = in || (ev.EventSeq >= p.from && ev.EventSeq <= p.to)
			}
			if !in {
				t.Errorf("user %s got event %d (%s) outside their periods %v", tc.user, ev.EventSeq, ev.Type, tc.periods)
			}
			for _, text := range append(hidden, tc.hidden...) {
				if strings.Contains(string(ev.Payload), text) {
					t.Errorf("user %s: event %d (%s) shows %q: %s", tc.user, ev.EventSeq, ev.Type, text, ev.Payload)
				}
			}
			if ev.EventSeq > backLeft && ev.EventSeq < backReturned && strings.Contains(string(ev.Payload), away.ID) && tc.user == back {
				t.Errorf("back got the message sent while they were away")
			}
			if !member {
				continue
			}
			switch ev.Type {
			case "message:new", "message:updated", "message:deleted":
				var got chat.Message
				if err := json.Unmarshal(ev.Payload, &got); err != nil {
					t.Fatal(err)
				}
				if want := history[got.ID]; !reflect.DeepEqual(got, want) {
					t.Errorf("user %s, event %d: sync message = %+v, REST history = %+v", tc.user, ev.EventSeq, got, want)
				}
			case "conversation:updated", "conversation:new":
				var got chat.Conversation
				if err := json.Unmarshal(ev.Payload, &got); err != nil {
					t.Fatal(err)
				}
				if got.Title != rest.Title || !reflect.DeepEqual(got.Members, rest.Members) {
					t.Errorf("user %s, event %d: sync conversation = %q %+v, REST = %q %+v", tc.user, ev.EventSeq, got.Title, got.Members, rest.Title, rest.Members)
				}
			}
		}
		if len(res.Gaps) != 0 {
			t.Errorf("user %s: gaps %+v, want none", tc.user, res.Gaps)
		}
	}

	t.Run("every kind of change reaches a member", func(t *testing.T) {
		res, err := e.svc.Sync(ctx, b, map[string]int64{conv.ID: 0})
		if err != nil {
			t.Fatal(err)
		}
		if got := int64(len(res.Events)); got != last {
			t.Errorf("b got %d events, want all %d", got, last)
		}
		kinds := map[string]bool{}
		for _, ev := range res.Events {
			kinds[ev.Type] = true
		}
		for _, k := range []string{"conversation:new", "message:new", "message:updated", "message:deleted", "conversation:read", "conversation:updated"} {
			if !kinds[k] {
				t.Errorf("b's sync has no %s event (got %v)", k, kinds)
			}
		}
	})
	t.Run("a member added after a deletion gets nothing from before", func(t *testing.T) {
		res, err := e.svc.Sync(ctx, late, map[string]int64{conv.ID: 0})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Events) == 0 || res.Events[0].EventSeq != lateJoined {
			t.Errorf("late's first event = %+v, want the one that added them (%d)", res.Events, lateJoined)
		}
		// REST history does show them the tombstone.
		page, err := e.svc.Messages(ctx, late, conv.ID, 0, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		var tomb bool
		for _, m := range page.Messages {
			tomb = tomb || (m.ID == doomed.ID && m.Deleted && m.Body == "")
		}
		if !tomb {
			t.Errorf("REST history for late has no tombstone of %s", doomed.ID)
		}
	})
	t.Run("a removed member gets nothing after the removal", func(t *testing.T) {
		res, err := e.svc.Sync(ctx, gone, map[string]int64{conv.ID: 0})
		if err != nil {
			t.Fatal(err)
		}
		if n := len(res.Events); n == 0 || res.Events[n-1].EventSeq != goneLeft {
			t.Errorf("gone's events end at %+v, want at their removal %d", res.Events, goneLeft)
		}
		for _, ev := range res.Events {
			if strings.Contains(string(ev.Payload), edited.ID) {
				t.Errorf("gone got event %d of a message changed after they left", ev.EventSeq)
			}
		}
	})
}
