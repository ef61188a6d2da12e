package realtime

import (
	"net/http"
	"reflect"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// TestDeliveryAcrossTwoGatewaysAndTwoChatServices: A on gateway 1 and B on
// gateway 2 (each gateway linked to its own chat-service instance) change a
// conversation through both gateways, over Socket.IO and REST. Each member
// receives every change exactly once, in eventSeq order, identical to the
// conversation's log; typing reaches only the other member; C, connected to
// both gateways but not a member, receives nothing at all.
func TestDeliveryAcrossTwoGatewaysAndTwoChatServices(t *testing.T) {
	t.Parallel()
	s := harness.Start(t, harness.Options{Gateways: 2, Chats: 2, Env: relaxed})
	gw1, gw2 := s.Gateways[0].URL(), s.Gateways[1].URL()
	a := harness.NewClient(t, gw1).SignUp()
	b := harness.NewClient(t, gw2).SignUp()
	c := harness.NewClient(t, gw1).SignUp()
	sa, sb := a.Connect(), b.Connect()
	sc1, sc2 := c.Connect(), c.WithBase(gw2).Connect()

	conv := a.CreateGroup("two gateways", b.UserID)
	id := conv.ID
	m1 := send(t, sa, id, "hello from A on gateway 1")
	m2 := sb.MustEmit("message:send", map[string]any{"conversationId": id, "clientMsgId": "b-1", "body": "reply from B on gateway 2", "replyToId": m1.ID}).Message
	if m2 == nil || m2.ReplyToID == nil || *m2.ReplyToID != m1.ID {
		t.Fatalf("reply = %+v, want replyToId %s", m2, m1.ID)
	}
	m3 := send(t, sa, id, "third")
	sa.MustEmit("message:edit", map[string]any{"conversationId": id, "messageId": m1.ID, "body": "hello (edited)"})
	react(t, b, id, m1.ID, "👍", true)
	react(t, a, id, m1.ID, "🎉", true)
	react(t, b, id, m1.ID, "👍", false)
	sb.MustEmit("message:delete", map[string]any{"conversationId": id, "messageId": m2.ID})
	if a := sb.MustEmit("conversation:read", map[string]any{"conversationId": id, "seq": 3}); a.Seq != 3 {
		t.Errorf("read ack seq = %d, want 3", a.Seq)
	}
	a.Do(http.MethodPost, "/api/v1/conversations/"+id+"/read", map[string]any{"seq": 3}).Expect(t, http.StatusOK, "A reads over REST")
	a.Do(http.MethodPatch, "/api/v1/conversations/"+id, map[string]any{"title": "renamed"}).Expect(t, http.StatusOK, "rename")
	sa.MustEmit("message:delete", map[string]any{"conversationId": id, "messageId": m3.ID})

	// Typing: A starts and stops, B starts. The gateway forwards a change
	// of state at once; each signal goes to the other member only.
	sa.Send("typing", map[string]any{"conversationId": id, "typing": true})
	sb.Send("typing", map[string]any{"conversationId": id, "typing": true})
	sa.Send("typing", map[string]any{"conversationId": id, "typing": false})

	wantTypes := []string{"conversation:new", "message:new", "message:new", "message:new", "message:updated",
		"message:updated", "message:updated", "message:updated", "message:deleted", "conversation:read",
		"conversation:read", "conversation:updated", "message:deleted"}
	log := asLogged(syncLog(t, sa, id, 0).Events)
	if got := names(log); !reflect.DeepEqual(got, wantTypes) {
		t.Fatalf("conversation log = %v, want %v", got, wantTypes)
	}
	for i, e := range log {
		if e.EventSeq != int64(i+1) {
			t.Fatalf("log event %d has eventSeq %d, want %d", i, e.EventSeq, i+1)
		}
	}

	typingOf := func(sock *harness.Socket) []map[string]any {
		var out []map[string]any
		for _, e := range sock.Named("typing") {
			var p map[string]any
			e.Decode(t, &p)
			out = append(out, p)
		}
		return out
	}
	members := []struct {
		name   string
		sock   *harness.Socket
		typing []map[string]any
	}{
		{"A", sa, []map[string]any{{"conversationId": id, "userId": b.UserID, "typing": true}}},
		{"B", sb, []map[string]any{
			{"conversationId": id, "userId": a.UserID, "typing": true},
			{"conversationId": id, "userId": a.UserID, "typing": false},
		}},
	}
	for _, u := range members {
		u.sock.WaitUntil(15*time.Second, u.name+" receives the whole log and the typing signals", func([]harness.SocketEvent) bool {
			return len(liveLog(t, u.sock, id)) >= len(log) && len(typingOf(u.sock)) >= len(u.typing)
		})
	}
	// Duplicates or strays would arrive shortly after; give them the time.
	time.Sleep(time.Second)
	for _, u := range members {
		compareLogs(t, u.name, liveLog(t, u.sock, id), log, false)
		if got := typingOf(u.sock); !reflect.DeepEqual(got, u.typing) {
			t.Errorf("%s typing signals = %v, want exactly %v", u.name, got, u.typing)
		}
	}
	// Live, both members got the very same payloads, each as it was when
	// the change happened.
	compareLogs(t, "B against A", liveLog(t, sb, id), liveLog(t, sa, id), true)
	for name, sock := range map[string]*harness.Socket{"C on gateway 1": sc1, "C on gateway 2": sc2} {
		if evs := sock.Events(); len(evs) != 0 {
			t.Errorf("%s (not a member) received %d events, want none: %+v", name, len(evs), evs)
		}
	}
}
