package realtime

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// TestCatchUpAfterDisconnect: B disconnects; A makes 50 changes of every
// kind (new, edit, delete, reaction, read, rename, member added and
// removed); B reconnects through the other gateway and syncs from the last
// eventSeq it saw: it gets exactly those 50, in order, without gaps, and
// nothing it already had.
func TestCatchUpAfterDisconnect(t *testing.T) {
	t.Parallel()
	s := harness.Start(t, harness.Options{Gateways: 2, Chats: 2, Env: relaxed})
	gw1, gw2 := s.Gateways[0].URL(), s.Gateways[1].URL()
	a := harness.NewClient(t, gw1).SignUp()
	b := harness.NewClient(t, gw2).SignUp()
	c := harness.NewClient(t, gw1).SignUp()
	sa, sb := a.Connect(), b.Connect()

	id := a.CreateGroup("catch-up", b.UserID).ID
	send(t, sa, id, "before the break 1")
	send(t, sa, id, "before the break 2")
	sb.WaitUntil(15*time.Second, "B sees the first three events", func([]harness.SocketEvent) bool {
		return len(liveLog(t, sb, id)) == 3
	})
	sb.Close()
	seen := liveLog(t, sb, id)
	last := seen[len(seen)-1].EventSeq
	if last != 3 {
		t.Fatalf("B's last eventSeq = %d, want 3 (%v)", last, seen)
	}

	// A's 50 changes, ten kinds in five rounds; every step checks it made
	// exactly one event, so the expectation below is the truth.
	var want []string
	next := last + 1
	made := func(kind string, eventSeq int64) {
		t.Helper()
		if eventSeq != next {
			t.Fatalf("%s made eventSeq %d, want %d", kind, eventSeq, next)
		}
		want = append(want, kind)
		next++
	}
	for round := 1; round <= 5; round++ {
		m := send(t, sa, id, fmt.Sprintf("round %d: kept", round))
		made("message:new", m.EventSeq)
		gone := send(t, sa, id, fmt.Sprintf("round %d: to delete", round))
		made("message:new", gone.EventSeq)
		made("message:updated", sa.MustEmit("message:edit", map[string]any{"conversationId": id, "messageId": m.ID, "body": fmt.Sprintf("round %d: edited", round)}).Message.EventSeq)
		made("message:updated", react(t, a, id, m.ID, "👍", true).EventSeq)
		made("message:deleted", sa.MustEmit("message:delete", map[string]any{"conversationId": id, "messageId": gone.ID}).Message.EventSeq)
		var receipt struct {
			EventSeq int64 `json:"eventSeq"`
		}
		a.WithBase(gw2).Do(http.MethodPost, "/api/v1/conversations/"+id+"/read", map[string]any{"seq": gone.Seq}).
			Expect(t, http.StatusOK, "A reads").JSON(t, &receipt)
		made("conversation:read", receipt.EventSeq)
		var conv harness.Conversation
		a.Do(http.MethodPatch, "/api/v1/conversations/"+id, map[string]any{"title": fmt.Sprintf("round %d", round)}).
			Expect(t, http.StatusOK, "rename").JSON(t, &conv)
		made("conversation:updated", conv.LastEventSeq)
		a.Do(http.MethodPost, "/api/v1/conversations/"+id+"/members", map[string]any{"userIds": []string{c.UserID}}).
			Expect(t, http.StatusOK, "add C").JSON(t, &conv)
		made("conversation:updated", conv.LastEventSeq)
		a.Do(http.MethodDelete, "/api/v1/conversations/"+id+"/members/"+c.UserID, nil).Expect(t, http.StatusNoContent, "remove C")
		made("conversation:updated", a.Conversation(id).LastEventSeq)
		made("message:updated", react(t, a, id, m.ID, "👍", false).EventSeq)
	}
	if len(want) != 50 {
		t.Fatalf("made %d events, want 50", len(want))
	}

	sb2 := b.WithBase(gw1).Connect()
	ack := syncLog(t, sb2, id, last)
	if len(ack.Gaps) != 0 {
		t.Errorf("sync gaps = %+v, want none", ack.Gaps)
	}
	got := asLogged(ack.Events)
	if len(got) != 50 {
		t.Fatalf("sync returned %d events %v, want exactly 50", len(got), got)
	}
	if names := names(got); !reflect.DeepEqual(names, want) {
		t.Errorf("sync event types = %v, want %v", names, want)
	}
	for i, e := range got {
		if e.ConvID != id || e.EventSeq != last+1+int64(i) {
			t.Errorf("event %d = %s in %s, want eventSeq %d in %s", i, e, e.ConvID, last+1+int64(i), id)
		}
		// sync renders the message or conversation as it is now, never an
		// older state REST would no longer show: the payload belongs to
		// this conversation and is at least as new as the entry.
		if pid, pseq := keyOf(t, e.Name, e.Payload); pid != id || pseq < e.EventSeq || pseq > last+50 {
			t.Errorf("event %s payload names %s#%d, want %s at eventSeq %d..%d", e, pid, pseq, id, e.EventSeq, last+50)
		}
	}
	checkMembershipPayloads(t, got, c.UserID)

	// Nothing B already had comes again, and syncing from the newest
	// eventSeq returns nothing.
	if again := syncLog(t, sb2, id, last+50); len(again.Events) != 0 || len(again.Gaps) != 0 {
		t.Errorf("sync from the newest eventSeq = %s, want no events and no gaps", again)
	}
}

// checkMembershipPayloads checks that in each round's three
// conversation:updated events (rename, add, remove) the member list
// follows C in and out.
func checkMembershipPayloads(t *testing.T, got []logged, c string) {
	t.Helper()
	var withC []bool
	for _, e := range got {
		if e.Name != "conversation:updated" {
			continue
		}
		var conv harness.Conversation
		if err := json.Unmarshal(e.Payload, &conv); err != nil {
			t.Fatal(err)
		}
		withC = append(withC, slices.ContainsFunc(conv.Members, func(m harness.Member) bool { return m.UserID == c }))
	}
	// sync renders each conversation as it is now (C was removed last), so
	// no payload names C, although C was a member in between.
	want := slices.Repeat([]bool{false}, 15)
	if !reflect.DeepEqual(withC, want) {
		t.Errorf("C among the members of the conversation:updated payloads = %v, want %v", withC, want)
	}
}
