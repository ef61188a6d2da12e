package chat_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// seqsOf lists the eventSeqs and socket types of sync events.
func seqsOf(evs []chat.SyncEvent) ([]int64, []string) {
	var seqs []int64
	var types []string
	for _, ev := range evs {
		seqs = append(seqs, ev.EventSeq)
		types = append(types, ev.Type)
	}
	return seqs, types
}

func TestSyncReturnsExactlyTheMissedEventsInOrder(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := context.Background()
	a, b, c := e.user(t, "a"), e.user(t, "b"), e.user(t, "c")
	conv := e.group(t, a, b)
	first := e.send(t, a, conv.ID, "seen by b")
	lastSeen := first.EventSeq // b was online until here

	// b goes away; every kind of change happens.
	m := e.send(t, a, conv.ID, "hello")                            // message:new
	mustOK(t)(e.svc.Edit(ctx, a, conv.ID, m.ID, "hello, edited"))  // message:updated
	mustOK(t)(e.svc.React(ctx, a, conv.ID, m.ID, "👍", true))       // message:updated (reaction)
	mustOK(t)(e.svc.React(ctx, a, conv.ID, m.ID, "👍", false))      // message:updated (reaction)
	mustOK(t)(e.svc.Delete(ctx, a, conv.ID, first.ID))             // message:deleted
	mustOK(t)(e.svc.MarkRead(ctx, a, conv.ID, m.Seq))              // conversation:read
	mustOK(t)(e.svc.Rename(ctx, a, conv.ID, "renamed"))            // conversation:updated
	mustOK(t)(e.svc.AddMembers(ctx, a, conv.ID, []string{c}, ""))  // conversation:updated
	if err := e.svc.RemoveMember(ctx, a, conv.ID, c); err != nil { // conversation:updated
		t.Fatal(err)
	}
	// No-ops must not produce events.
	mustOK(t)(e.svc.React(ctx, a, conv.ID, m.ID, "👍", false))
	mustOK(t)(e.svc.MarkRead(ctx, a, conv.ID, 1))
	mustOK(t)(e.svc.Rename(ctx, a, conv.ID, "renamed"))

	res, err := e.svc.Sync(ctx, b, map[string]int64{conv.ID: lastSeen})
	if err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{"message:new", "message:updated", "message:updated", "message:updated", "message:deleted",
		"conversation:read", "conversation:updated", "conversation:updated", "conversation:updated"}
	seqs, types := seqsOf(res.Events)
	if len(seqs) != len(wantTypes) {
		t.Fatalf("got %d events %v, want %d", len(seqs), types, len(wantTypes))
	}
	for i := range wantTypes {
		if seqs[i] != lastSeen+int64(i)+1 || types[i] != wantTypes[i] {
			t.Errorf("event %d = (%d, %s), want (%d, %s)", i, seqs[i], types[i], lastSeen+int64(i)+1, wantTypes[i])
		}
	}
	if len(res.Gaps) != 0 {
		t.Errorf("gaps = %+v, want none", res.Gaps)
	}
	// Payloads are what clients got live.
	var deleted chat.Message
	if err := json.Unmarshal(res.Events[4].Payload, &deleted); err != nil {
		t.Fatal(err)
	}
	if !deleted.Deleted || deleted.Body != "" || deleted.ID != first.ID || deleted.EventSeq != seqs[4] {
		t.Errorf("deleted payload = %+v, want tombstone of %s with eventSeq %d", deleted, first.ID, seqs[4])
	}
	var read chat.ReadReceipt
	if err := json.Unmarshal(res.Events[5].Payload, &read); err != nil {
		t.Fatal(err)
	}
	if read.UserID != a || read.Seq != m.Seq {
		t.Errorf("read payload = %+v, want user %s seq %d", read, a, m.Seq)
	}
	// Syncing from the end returns nothing.
	last := seqs[len(seqs)-1]
	res, err = e.svc.Sync(ctx, b, map[string]int64{conv.ID: last})
	if err != nil || len(res.Events) != 0 || len(res.Gaps) != 0 {
		t.Errorf("sync at the head = %+v, %v; want nothing", res, err)
	}
}

func TestSyncGapsAndVisibility(t *testing.T) {
	t.Parallel()
	cfg := unlimited()
	cfg.SyncEventCap = 5
	e := newEnv(t, cfg)
	ctx := context.Background()
	a, b, c := e.user(t, "a"), e.user(t, "b"), e.user(t, "c")

	busy := e.group(t, a, b) // event 1
	for range 11 {
		e.send(t, a, busy.ID, "x") // events 2..12
	}
	left := e.group(t, a, b, c) // c will be removed at event 3
	e.send(t, a, left.ID, "before removal")
	if err := e.svc.RemoveMember(ctx, a, left.ID, c); err != nil {
		t.Fatal(err)
	}
	e.send(t, a, left.ID, "after removal") // event 4: c must never see it
	foreign := e.group(t, a, b)            // c never belonged
	unlisted := e.group(t, a, c)           // c belongs but does not list it

	t.Run("capped", func(t *testing.T) {
		res, err := e.svc.Sync(ctx, b, map[string]int64{busy.ID: 2})
		if err != nil {
			t.Fatal(err)
		}
		seqs, _ := seqsOf(res.Events)
		if want := []int64{3, 4, 5, 6, 7}; !equal(seqs, want) {
			t.Errorf("events = %v, want %v", seqs, want)
		}
		want := chat.Gap{ConversationID: busy.ID, FromEventSeq: 8, ToEventSeq: 12}
		if !hasGap(res.Gaps, want) {
			t.Errorf("gaps = %+v, want %+v", res.Gaps, want)
		}
	})
	t.Run("total budget", func(t *testing.T) {
		e2 := *e
		cfg := unlimited()
		cfg.SyncEventCap, cfg.SyncTotalCap = 5, 7
		e2.svc = chat.NewService(e.store, nil, cfg)
		// busy has 11 missed events from 1, left 3 from 0 for b: ids in order
		// decide who gets the budget first.
		res, err := e2.svc.Sync(ctx, b, map[string]int64{busy.ID: 1, left.ID: 0})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Events) != 7 {
			t.Errorf("events = %d, want the total cap of 7", len(res.Events))
		}
		missed := map[string]int64{}
		for _, g := range res.Gaps {
			missed[g.ConversationID] += g.ToEventSeq - g.FromEventSeq + 1
		}
		// Every missed event is either returned or inside a gap.
		if got := int64(len(res.Events)) + missed[busy.ID] + missed[left.ID]; got != 11+4 {
			t.Errorf("events + gaps cover %d events, want 15 (gaps %+v)", got, res.Gaps)
		}
	})
	t.Run("removed member sees up to the removal", func(t *testing.T) {
		res, err := e.svc.Sync(ctx, c, map[string]int64{left.ID: 1, foreign.ID: 0, unlisted.ID: 0})
		if err != nil {
			t.Fatal(err)
		}
		var leftSeqs []int64
		for _, ev := range res.Events {
			switch ev.ConversationID {
			case left.ID:
				leftSeqs = append(leftSeqs, ev.EventSeq)
			case foreign.ID:
				t.Errorf("got event %d of a conversation c never belonged to", ev.EventSeq)
			}
		}
		if want := []int64{2, 3}; !equal(leftSeqs, want) {
			t.Errorf("events of the left conversation = %v, want %v", leftSeqs, want)
		}
	})
	t.Run("unlisted conversation is a gap", func(t *testing.T) {
		res, err := e.svc.Sync(ctx, c, map[string]int64{})
		if err != nil {
			t.Fatal(err)
		}
		want := chat.Gap{ConversationID: unlisted.ID, FromEventSeq: 1, ToEventSeq: 1}
		if !hasGap(res.Gaps, want) || len(res.Events) != 0 {
			t.Errorf("sync = %+v, want only gap %+v", res, want)
		}
	})
	t.Run("pruned log is a gap", func(t *testing.T) {
		n, err := e.store.PruneEvents(ctx, time.Now().Add(time.Hour), 1000)
		if err != nil || n == 0 {
			t.Fatalf("PruneEvents = %d, %v", n, err)
		}
		e.send(t, a, busy.ID, "after pruning") // event 13 survives
		res, err := e.svc.Sync(ctx, b, map[string]int64{busy.ID: 2})
		if err != nil {
			t.Fatal(err)
		}
		seqs, _ := seqsOf(res.Events)
		if want := []int64{13}; !equal(seqs, want) {
			t.Errorf("events = %v, want %v", seqs, want)
		}
		if want := (chat.Gap{ConversationID: busy.ID, FromEventSeq: 3, ToEventSeq: 12}); !hasGap(res.Gaps, want) {
			t.Errorf("gaps = %+v, want %+v", res.Gaps, want)
		}
	})
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func hasGap(gaps []chat.Gap, want chat.Gap) bool {
	for _, g := range gaps {
		if g == want {
			return true
		}
	}
	return false
}

// mustOK fails the test when a use case returned an error.
func mustOK(t *testing.T) func(any, error) {
	return func(_ any, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
}
