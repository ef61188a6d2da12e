package realtime

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"reflect"
	"testing"

	"github.com/google/uuid"

	"github.com/parleychat/parley/e2e/harness"
)

// relaxed lifts per-user flood control (MESSAGE_RATE/BURST) for tests that
// are not about it, so a user may make dozens of changes in a second. The
// limiter stays on; TestRefusals runs with the defaults.
var relaxed = map[string][]string{"chat-service": {"MESSAGE_RATE=1000", "MESSAGE_BURST=1000"}}

// conversationEvents are the Socket.IO events that belong to a
// conversation's change log and carry an eventSeq.
var conversationEvents = map[string]bool{
	"message:new": true, "message:updated": true, "message:deleted": true,
	"conversation:new": true, "conversation:updated": true, "conversation:read": true,
}

// logged is one change-log event as a client saw it, live or from sync.
type logged struct {
	Name     string
	ConvID   string
	EventSeq int64
	Payload  json.RawMessage
}

func (l logged) String() string { return fmt.Sprintf("%s#%d", l.Name, l.EventSeq) }

// keyOf finds the conversation and eventSeq of a live event's payload:
// message and read payloads carry conversationId and eventSeq; conversation
// payloads are the conversation itself, whose lastEventSeq is the change
// that produced them.
func keyOf(t *testing.T, name string, payload json.RawMessage) (string, int64) {
	t.Helper()
	var p struct {
		ID             string `json:"id"`
		ConversationID string `json:"conversationId"`
		EventSeq       int64  `json:"eventSeq"`
		LastEventSeq   int64  `json:"lastEventSeq"`
	}
	if err := json.Unmarshal(payload, &p); err != nil {
		t.Fatalf("decode %s payload %s: %v", name, payload, err)
	}
	if name == "conversation:new" || name == "conversation:updated" {
		return p.ID, p.LastEventSeq
	}
	return p.ConversationID, p.EventSeq
}

// liveLog is what sock received live for conversation convID, in arrival
// order.
func liveLog(t *testing.T, sock *harness.Socket, convID string) []logged {
	t.Helper()
	var out []logged
	for _, e := range sock.Events() {
		if !conversationEvents[e.Name] {
			continue
		}
		id, seq := keyOf(t, e.Name, e.Data)
		if id == convID {
			out = append(out, logged{Name: e.Name, ConvID: id, EventSeq: seq, Payload: e.Data})
		}
	}
	return out
}

// syncLog asks for every event of convID after eventSeq after.
func syncLog(t *testing.T, sock *harness.Socket, convID string, after int64) harness.Ack {
	t.Helper()
	return sock.MustEmit("sync", map[string]any{"conversations": map[string]int64{convID: after}})
}

// asLogged turns sync events into the live form.
func asLogged(evs []harness.SyncEvent) []logged {
	out := make([]logged, len(evs))
	for i, e := range evs {
		out[i] = logged{Name: e.Type, ConvID: e.ConversationID, EventSeq: e.EventSeq, Payload: e.Payload}
	}
	return out
}

// sameJSON reports whether two JSON documents are equal as values (the
// payload a client got live went through a decode and re-encode).
func sameJSON(a, b json.RawMessage) bool {
	var x, y any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	return reflect.DeepEqual(x, y)
}

// compareLogs fails unless got is exactly want: same events, same order,
// and, when payloads is set, the same payloads. (sync renders current
// state, so a live log is compared with sync's by name and eventSeq only,
// and with another live log in full.)
func compareLogs(t *testing.T, who string, got, want []logged, payloads bool) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s received %d events %v, want exactly %d %v", who, len(got), got, len(want), want)
		return
	}
	for i := range want {
		g, w := got[i], want[i]
		if g.Name != w.Name || g.EventSeq != w.EventSeq || g.ConvID != w.ConvID {
			t.Errorf("%s event %d = %v, want %v (all: %v)", who, i, g, w, got)
			return
		}
		if payloads && !sameJSON(g.Payload, w.Payload) {
			t.Errorf("%s event %v payload = %s, want %s", who, g, g.Payload, w.Payload)
		}
	}
}

// names lists the event names of a log.
func names(l []logged) []string {
	out := make([]string, len(l))
	for i, e := range l {
		out[i] = e.Name
	}
	return out
}

// send emits message:send and fails unless it is acknowledged ok.
func send(t *testing.T, sock *harness.Socket, convID, body string) harness.Message {
	t.Helper()
	a := sock.MustEmit("message:send", map[string]any{"conversationId": convID, "clientMsgId": uuid.NewString(), "body": body})
	if a.Message == nil {
		t.Fatalf("send ack without message: %s", a)
	}
	return *a.Message
}

// reactionPath is the REST path of one emoji reaction.
func reactionPath(convID, msgID, emoji string) string {
	return fmt.Sprintf("/api/v1/conversations/%s/messages/%s/reactions/%s", convID, msgID, url.PathEscape(emoji))
}

// react adds (or removes) a reaction over REST and returns the message.
func react(t *testing.T, c *harness.Client, convID, msgID, emoji string, add bool) harness.Message {
	t.Helper()
	method := http.MethodPut
	if !add {
		method = http.MethodDelete
	}
	var m harness.Message
	c.Do(method, reactionPath(convID, msgID, emoji), nil).Expect(t, http.StatusOK, "reaction "+emoji).JSON(t, &m)
	return m
}
