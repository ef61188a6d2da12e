package realtime

import (
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// TestSameClientMsgIDYieldsOneMessage: one clientMsgId sent five times at
// once from A's two devices (two gateways, so two chat-service instances),
// again after reconnecting, and over REST, is one message: every ack and
// answer names the same id and seq, the conversation holds one row, and B
// receives one message:new. A send whose socket closes before its ack, retried
// five times after reconnecting, is one message too.
func TestSameClientMsgIDYieldsOneMessage(t *testing.T) {
	t.Parallel()
	s := harness.Start(t, harness.Options{Gateways: 2, Chats: 2, Env: relaxed})
	gw1, gw2 := s.Gateways[0].URL(), s.Gateways[1].URL()
	a := harness.NewClient(t, gw1).SignUp()
	b := harness.NewClient(t, gw2).SignUp()
	a1, a2, sb := a.Connect(), a.WithBase(gw2).Connect(), b.Connect()
	id := a.CreateDirect(b.UserID).ID

	payload := func(key string) map[string]any {
		return map[string]any{"conversationId": id, "clientMsgId": key, "body": "exactly once: " + key}
	}
	// burst sends key five times at once, alternating A's two devices, and
	// returns the acks.
	burst := func(key string, socks ...*harness.Socket) []harness.Ack {
		acks := make([]harness.Ack, 5)
		var wg sync.WaitGroup
		for i := range acks {
			wg.Go(func() { acks[i] = socks[i%len(socks)].Emit("message:send", payload(key)) })
		}
		wg.Wait()
		return acks
	}
	// sameMessage fails unless every ack is ok and names want (or, when
	// want is nil, the same message as the first ack); it returns it.
	sameMessage := func(what string, acks []harness.Ack, want *harness.Message) harness.Message {
		t.Helper()
		for i, a := range acks {
			if a.Err != nil || !a.OK || a.Message == nil {
				t.Fatalf("%s: ack %d = %s, want ok with a message", what, i, a)
			}
			if want == nil {
				want = a.Message
			}
			if a.Message.ID != want.ID || a.Message.Seq != want.Seq || a.Message.EventSeq != want.EventSeq {
				t.Errorf("%s: ack %d names message %s seq %d eventSeq %d, want %s seq %d eventSeq %d",
					what, i, a.Message.ID, a.Message.Seq, a.Message.EventSeq, want.ID, want.Seq, want.EventSeq)
			}
		}
		return *want
	}
	createdCount := func(acks []harness.Ack) int {
		n := 0
		for _, a := range acks {
			if a.Created != nil && *a.Created {
				n++
			}
		}
		return n
	}

	acks := burst("dup-1", a1, a2)
	first := sameMessage("five concurrent sends", acks, nil)
	if n := createdCount(acks); n != 1 {
		t.Errorf("%d of five concurrent acks say created, want exactly 1", n)
	}

	// Across a reconnect (to the other gateway this time).
	a1.Close()
	a1 = a.WithBase(gw2).Connect()
	again := burst("dup-1", a1)
	sameMessage("after reconnecting", again, &first)
	if n := createdCount(again); n != 0 {
		t.Errorf("%d acks after reconnecting say created, want 0", n)
	}

	// Over REST: 200 (not 201) with the original.
	var viaREST harness.Message
	a.Do(http.MethodPost, "/api/v1/conversations/"+id+"/messages", map[string]any{"clientMsgId": "dup-1", "body": "exactly once: dup-1"}).
		Expect(t, http.StatusOK, "REST retry of dup-1").JSON(t, &viaREST)
	if viaREST.ID != first.ID || viaREST.Seq != first.Seq {
		t.Errorf("REST retry answered %s seq %d, want %s seq %d", viaREST.ID, viaREST.Seq, first.ID, first.Seq)
	}

	// A send whose socket goes away before the ack (it may or may not have
	// been stored), then retried five times after reconnecting.
	gone := make(chan harness.Ack, 1)
	a2.EmitAsync("message:send", payload("dup-2"), 10*time.Second, func(a harness.Ack) { gone <- a })
	a2.Close()
	<-gone
	a2 = a.Connect()
	second := sameMessage("retries after a send lost in a disconnect", burst("dup-2", a1, a2), nil)
	if second.ID == first.ID {
		t.Fatalf("dup-2 answered dup-1's message %s", first.ID)
	}

	var rows []harness.Message
	harness.Eventually(t, 10*time.Second, "two rows listed", func() error {
		rows = a.Messages(id, 0)
		if len(rows) < 2 {
			return harness.Errorf("%d rows", len(rows))
		}
		return nil
	})
	if len(rows) != 2 || rows[0].ID != first.ID || rows[1].ID != second.ID || rows[0].ClientMsgID != "dup-1" || rows[1].ClientMsgID != "dup-2" {
		t.Errorf("messages listed = %+v, want exactly dup-1 (%s) then dup-2 (%s)", rows, first.ID, second.ID)
	}

	sb.WaitUntil(15*time.Second, "B receives both messages", func([]harness.SocketEvent) bool {
		return len(sb.Named("message:new")) >= 2
	})
	time.Sleep(time.Second) // room for a duplicate to show up
	var got []string
	for _, e := range sb.Named("message:new") {
		var m harness.Message
		e.Decode(t, &m)
		got = append(got, m.ClientMsgID)
	}
	if len(got) != 2 || got[0] != "dup-1" || got[1] != "dup-2" {
		t.Errorf("B received message:new for %v, want exactly [dup-1 dup-2]", got)
	}
}
