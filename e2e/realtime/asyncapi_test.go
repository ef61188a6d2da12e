package realtime

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"

	"github.com/parleychat/parley/e2e/harness"
)

// contract is the gateway's AsyncAPI document, compiled: the schema of
// every Socket.IO event the gateway emits and of every command's ack.
type contract struct {
	t      *testing.T
	events map[string]*jsonschema.Schema // Socket.IO event → payload schema
	acks   map[string]*jsonschema.Schema // command → ack schema
}

func loadContract(t *testing.T) *contract {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "..", "gateway", "api", "asyncapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(raw, &v); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	js, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	type ref struct {
		Ref string `json:"$ref"`
	}
	var doc struct {
		Channels map[string]struct {
			Messages map[string]ref `json:"messages"`
		} `json:"channels"`
		Operations map[string]struct {
			Action   string `json:"action"`
			Channel  ref    `json:"channel"`
			Messages []ref  `json:"messages"`
			Reply    *struct {
				Messages []ref `json:"messages"`
			} `json:"reply"`
		} `json:"operations"`
		Components struct {
			Messages map[string]struct {
				Name string `json:"name"`
			} `json:"messages"`
		} `json:"components"`
	}
	if err := json.Unmarshal(js, &doc); err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		t.Fatal(err)
	}
	const base = "https://parley.invalid/asyncapi.json"
	comp := jsonschema.NewCompiler()
	comp.DefaultDraft(jsonschema.Draft7)
	comp.AssertFormat()
	if err := comp.AddResource(base, inst); err != nil {
		t.Fatal(err)
	}
	// component resolves #/channels/socket/messages/<m> to its component
	// message and compiles its payload.
	component := func(r ref) (string, *jsonschema.Schema) {
		key := strings.TrimPrefix(r.Ref, "#/channels/socket/messages/")
		name := strings.TrimPrefix(doc.Channels["socket"].Messages[key].Ref, "#/components/messages/")
		sch, err := comp.Compile(base + "#/components/messages/" + name + "/payload")
		if err != nil {
			t.Fatalf("%s: %v", r.Ref, err)
		}
		return doc.Components.Messages[name].Name, sch
	}
	c := &contract{t: t, events: map[string]*jsonschema.Schema{}, acks: map[string]*jsonschema.Schema{}}
	for _, op := range doc.Operations {
		if op.Channel.Ref != "#/channels/socket" || len(op.Messages) != 1 {
			continue
		}
		name, sch := component(op.Messages[0])
		switch {
		case op.Action == "send":
			c.events[name] = sch
		case op.Action == "receive" && op.Reply != nil && len(op.Reply.Messages) == 1:
			_, c.acks[name] = component(op.Reply.Messages[0])
		}
	}
	return c
}

func (c *contract) check(sch *jsonschema.Schema, what string, raw json.RawMessage) {
	c.t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		c.t.Errorf("%s: %s is not JSON: %v", what, raw, err)
		return
	}
	if err := sch.Validate(v); err != nil {
		c.t.Errorf("%s does not match the AsyncAPI document:\n%s\n%v", what, raw, err)
	}
}

// ack checks a command's real ack against the document.
func (c *contract) ack(command string, a harness.Ack) {
	c.t.Helper()
	sch, ok := c.acks[command]
	if !ok {
		c.t.Fatalf("the AsyncAPI document has no ack for %s", command)
	}
	if a.Err != nil {
		c.t.Fatalf("%s: %v", command, a.Err)
	}
	c.check(sch, command+" ack", a.Raw)
}

// received checks every event sock got against the document.
func (c *contract) received(who string, sock *harness.Socket) map[string]int {
	c.t.Helper()
	seen := map[string]int{}
	for _, e := range sock.Events() {
		seen[e.Name]++
		sch, ok := c.events[e.Name]
		if !ok {
			c.t.Errorf("%s received %s, which the AsyncAPI document does not describe", who, e.Name)
			continue
		}
		c.check(sch, who+"'s "+e.Name, e.Data)
	}
	return seen
}

// TestRealTrafficMatchesTheAsyncAPI drives every command through a real
// gateway and chat-service and checks each ack and each event the sockets
// receive against the AsyncAPI document the gateway serves: the document
// describes what the code really sends, not only what the golden examples
// say.
func TestRealTrafficMatchesTheAsyncAPI(t *testing.T) {
	t.Parallel()
	doc := loadContract(t)
	s := harness.Start(t, harness.Options{Env: map[string][]string{
		"gateway": {"PRESENCE_HEARTBEAT=" + presenceHeartbeat.String()},
	}})
	gw := s.Gateways[0].URL()
	a := harness.NewClient(t, gw).SignUp()
	b := harness.NewClient(t, gw).SignUp()
	conv := a.CreateDirect(b.UserID)
	sa, sb := a.Connect(), b.Connect()
	sa.WaitUntil(10*time.Second, "A hears B online", func(evs []harness.SocketEvent) bool {
		for _, e := range evs {
			if e.Name == "presence" && bytes.Contains(e.Data, []byte(b.UserID)) {
				return true
			}
		}
		return false
	})

	sent := sa.MustEmit("message:send", map[string]any{"conversationId": conv.ID, "clientMsgId": uuid.NewString(), "body": "hello"})
	doc.ack("message:send", sent)
	msgID := sent.Message.ID
	doc.ack("message:edit", sa.MustEmit("message:edit", map[string]any{"conversationId": conv.ID, "messageId": msgID, "body": "hello again"}))
	b.Do(http.MethodPut, "/api/v1/conversations/"+conv.ID+"/messages/"+msgID+"/reactions/"+url.PathEscape("👍"), nil)
	doc.ack("conversation:read", sb.MustEmit("conversation:read", map[string]any{"conversationId": conv.ID, "seq": sent.Message.Seq}))
	sb.Send("typing", map[string]any{"conversationId": conv.ID, "typing": true})
	doc.ack("message:delete", sa.MustEmit("message:delete", map[string]any{"conversationId": conv.ID, "messageId": msgID}))
	group := a.CreateGroup("contract", b.UserID)
	a.Do(http.MethodPatch, "/api/v1/conversations/"+group.ID, map[string]any{"title": "contract, renamed"}).Expect(t, http.StatusOK, "rename the group")

	doc.ack("sync", sa.MustEmit("sync", map[string]any{"conversations": map[string]int64{conv.ID: 0, group.ID: 0}}))
	doc.ack("presence:query", sa.MustEmit("presence:query", map[string]any{"userIds": []string{b.UserID, a.UserID}}))
	// Refusals have the document's failure shape too.
	doc.ack("presence:query", sa.Emit("presence:query", map[string]any{"userIds": []string{"nope"}}))
	doc.ack("message:send", sa.Emit("message:send", map[string]any{"conversationId": conv.ID}))

	want := map[string][]string{
		"A": {"message:new", "message:updated", "message:deleted", "conversation:read", "typing", "presence", "conversation:new", "conversation:updated"},
		"B": {"message:new", "message:updated", "message:deleted", "conversation:new", "conversation:updated"},
	}
	socks := map[string]*harness.Socket{"A": sa, "B": sb}
	for who, names := range want {
		socks[who].WaitUntil(15*time.Second, who+" gets "+strings.Join(names, ", "), func(evs []harness.SocketEvent) bool {
			got := map[string]bool{}
			for _, e := range evs {
				got[e.Name] = true
			}
			for _, n := range names {
				if !got[n] {
					return false
				}
			}
			return true
		})
	}
	for who, sock := range socks {
		seen := doc.received(who, sock)
		t.Logf("%s: events checked against the document: %v", who, seen)
	}
}
