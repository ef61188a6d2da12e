package api_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/parleychat/parley/gateway/api"
	"github.com/parleychat/parley/gateway/internal/realtime"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/link"
)

// docURL is where the AsyncAPI document is registered with the schema
// compiler; message payloads compile from JSON pointers into it.
const docURL = "https://parley.invalid/asyncapi.json"

// asyncAPI is the parsed document: raw as the validator reads it, and the
// parts the tests walk.
type asyncAPI struct {
	raw        any
	Channels   map[string]asyncChannel   `json:"channels"`
	Operations map[string]asyncOperation `json:"operations"`
	Components struct {
		Messages map[string]asyncMessage `json:"messages"`
	} `json:"components"`
}

type asyncRef struct {
	Ref string `json:"$ref"`
}

type asyncChannel struct {
	Address  string              `json:"address"`
	Messages map[string]asyncRef `json:"messages"`
	Bindings struct {
		AMQP struct {
			Is       string `json:"is"`
			Exchange struct {
				Name string `json:"name"`
				Type string `json:"type"`
			} `json:"exchange"`
		} `json:"amqp"`
	} `json:"bindings"`
}

type asyncOperation struct {
	Action   string     `json:"action"`
	Channel  asyncRef   `json:"channel"`
	Messages []asyncRef `json:"messages"`
	Reply    *struct {
		Messages []asyncRef `json:"messages"`
	} `json:"reply"`
}

type asyncMessage struct {
	Name        string `json:"name"`
	SocketEvent string `json:"x-socketio-event"`
	Examples    []struct {
		Payload json.RawMessage `json:"payload"`
	} `json:"examples"`
}

// loadAsyncAPI parses the embedded document with a YAML parser and gives it
// to the validator as the JSON it stands for.
func loadAsyncAPI(t *testing.T) *asyncAPI {
	t.Helper()
	var v any
	if err := yaml.Unmarshal(api.AsyncAPI, &v); err != nil {
		t.Fatalf("asyncapi.yaml does not parse: %v", err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("asyncapi.yaml is not JSON-compatible: %v", err)
	}
	var doc asyncAPI
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("asyncapi.yaml: %v", err)
	}
	if doc.raw, err = jsonschema.UnmarshalJSON(bytes.NewReader(b)); err != nil {
		t.Fatal(err)
	}
	return &doc
}

// pointer resolves a local reference (#/a/b) in the raw document.
func (d *asyncAPI) pointer(ref string) (any, bool) {
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	cur := d.raw
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[tok]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// message follows a channel's message reference to the component.
func (d *asyncAPI) message(t *testing.T, ref string) (name string, m asyncMessage) {
	t.Helper()
	// #/channels/<c>/messages/<m> → the channel's entry → #/components/messages/<name>
	parts := strings.Split(strings.TrimPrefix(ref, "#/"), "/")
	if len(parts) == 4 && parts[0] == "channels" && parts[2] == "messages" {
		ref = d.Channels[parts[1]].Messages[parts[3]].Ref
	}
	name, ok := strings.CutPrefix(ref, "#/components/messages/")
	m, found := d.Components.Messages[name]
	if !ok || !found {
		t.Fatalf("message reference %q names no component message", ref)
	}
	return name, m
}

func socketNames(t *testing.T, action string) []string {
	t.Helper()
	names, err := api.SocketEventNames(action)
	if err != nil {
		t.Fatal(err)
	}
	return names
}

// compiler has the document loaded, formats asserted (date-time, …).
func (d *asyncAPI) compiler(t *testing.T) *jsonschema.Compiler {
	t.Helper()
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7) // AsyncAPI's default schema format
	c.AssertFormat()
	if err := c.AddResource(docURL, d.raw); err != nil {
		t.Fatal(err)
	}
	return c
}

// payloadSchema compiles the payload schema of component message name.
func payloadSchema(t *testing.T, c *jsonschema.Compiler, name string) *jsonschema.Schema {
	t.Helper()
	sch, err := c.Compile(docURL + "#/components/messages/" + name + "/payload")
	if err != nil {
		t.Fatalf("payload schema of %s: %v", name, err)
	}
	return sch
}

func validate(t *testing.T, sch *jsonschema.Schema, what string, body []byte) {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s does not match its schema:\n%v", what, err)
	}
}

// TestAsyncAPIIsAValidAsyncAPI3Document validates the document against the
// official AsyncAPI 3.0.0 JSON Schema (testdata/asyncapi-specs) and checks
// that every local reference resolves.
func TestAsyncAPIIsAValidAsyncAPI3Document(t *testing.T) {
	doc := loadAsyncAPI(t)
	spec, err := os.ReadFile("testdata/asyncapi-specs/3.0.0.json")
	if err != nil {
		t.Fatal(err)
	}
	meta, err := jsonschema.UnmarshalJSON(bytes.NewReader(spec))
	if err != nil {
		t.Fatal(err)
	}
	const specURL = "http://asyncapi.com/definitions/3.0.0/asyncapi.json"
	c := jsonschema.NewCompiler()
	if err := c.AddResource(specURL, meta); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(specURL)
	if err != nil {
		t.Fatalf("the AsyncAPI 3.0.0 schema does not compile: %v", err)
	}
	if err := sch.Validate(doc.raw); err != nil {
		t.Errorf("asyncapi.yaml is not a valid AsyncAPI 3.0.0 document:\n%v", err)
	}

	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if r, ok := v["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, e := range v {
				walk(e)
			}
		case []any:
			for _, e := range v {
				walk(e)
			}
		}
	}
	walk(doc.raw)
	if len(refs) < 50 {
		t.Fatalf("found %d references; the walk is broken", len(refs))
	}
	for _, r := range refs {
		if _, ok := doc.pointer(r); !ok {
			t.Errorf("$ref %q does not resolve in the document", r)
		}
	}
}

// TestAsyncAPINamesEveryEvent: every command the gateway forwards
// (shared/link), every Socket.IO event it emits and every routing key
// Parley publishes (shared/events) is in the document, and the document
// names nothing the code does not have.
func TestAsyncAPINamesEveryEvent(t *testing.T) {
	doc := loadAsyncAPI(t)

	commands := slices.Clone(link.Commands)
	slices.Sort(commands)
	if got := socketNames(t, "receive"); !slices.Equal(got, commands) {
		t.Errorf("Socket.IO commands in the document = %v\nlink commands = %v", got, commands)
	}

	emitted := []string{realtime.EventSyncRequired, "connect_error"}
	for _, key := range events.RoutingKeys() {
		typ := key[:strings.LastIndex(key, ".v")]
		if name, ok := events.SocketEvent(typ); ok {
			emitted = append(emitted, name)
		}
	}
	slices.Sort(emitted)
	emitted = slices.Compact(emitted)
	if got := socketNames(t, "send"); !slices.Equal(got, emitted) {
		t.Errorf("Socket.IO events in the document = %v\nemitted by the gateway = %v", got, emitted)
	}

	var addresses []string
	for id, ch := range doc.Channels {
		if id == "socket" {
			continue
		}
		addresses = append(addresses, ch.Address)
		key := ch.Address
		if ch.Bindings.AMQP.Is != "routingKey" || ch.Bindings.AMQP.Exchange.Type != "topic" {
			t.Errorf("channel %s: amqp binding %+v, want a routing key on a topic exchange", id, ch.Bindings.AMQP)
		}
		// The exchange is the producer's: parley.<first segment>.
		if want := "parley." + key[:strings.IndexByte(key+".", '.')]; ch.Bindings.AMQP.Exchange.Name != want {
			t.Errorf("channel %s: exchange %q, want %q", id, ch.Bindings.AMQP.Exchange.Name, want)
		}
		if len(ch.Messages) != 1 {
			t.Errorf("channel %s has %d messages, want the one event version", id, len(ch.Messages))
		}
		for _, r := range ch.Messages {
			name, m := doc.message(t, r.Ref)
			if name != key || m.Name != key {
				t.Errorf("channel %s: message %s named %q, want both %q", id, name, m.Name, key)
			}
			typ := key[:strings.LastIndex(key, ".v")]
			want, _ := events.SocketEvent(typ)
			if m.SocketEvent != want {
				t.Errorf("%s: x-socketio-event %q, gateways emit it as %q", key, m.SocketEvent, want)
			}
		}
	}
	slices.Sort(addresses)
	if keys := events.RoutingKeys(); !slices.Equal(addresses, keys) {
		t.Errorf("RabbitMQ channels in the document = %v\nrouting keys published = %v", addresses, keys)
	}
	for _, ex := range []string{events.ExchangeAuth, events.ExchangeUsers, events.ExchangeChat, events.ExchangeRealtime} {
		if !bytes.Contains(api.AsyncAPI, []byte("name: "+ex+",")) {
			t.Errorf("exchange %s is bound by no channel", ex)
		}
	}

	// Every command but typing is acknowledged, and says with what.
	for id, op := range doc.Operations {
		if op.Action != "receive" || op.Channel.Ref != api.SocketChannel {
			continue
		}
		_, m := doc.message(t, op.Messages[0].Ref)
		if acked := m.Name != link.Typing; acked != (op.Reply != nil) {
			t.Errorf("operation %s (%s): reply %v, want one exactly when the command is acknowledged", id, m.Name, op.Reply != nil)
		}
	}
}

// TestGoldenExamplesMatchTheAsyncAPI validates every golden event example
// (shared/events/testdata) against its message's schema, and the Socket.IO
// payload it carries against the schema of the event gateways emit it as;
// and every example written in the document against its own message.
func TestGoldenExamplesMatchTheAsyncAPI(t *testing.T) {
	doc := loadAsyncAPI(t)
	c := doc.compiler(t)
	socketMessage := map[string]string{} // Socket.IO event → component message
	for _, op := range doc.Operations {
		if op.Action == "send" && op.Channel.Ref == api.SocketChannel {
			name, m := doc.message(t, op.Messages[0].Ref)
			socketMessage[m.Name] = name
		}
	}

	examples := events.Examples()
	if len(examples) < len(events.RoutingKeys()) {
		t.Fatalf("%d golden examples for %d routing keys", len(examples), len(events.RoutingKeys()))
	}
	for _, ex := range examples {
		t.Run(ex.RoutingKey, func(t *testing.T) {
			env, err := events.Decode(ex.Body)
			if err != nil {
				t.Fatal(err)
			}
			ch, ok := doc.Channels[env.RoutingKey()]
			if !ok {
				t.Fatalf("no channel for %s", env.RoutingKey())
			}
			for _, r := range ch.Messages {
				name, _ := doc.message(t, r.Ref)
				validate(t, payloadSchema(t, c, name), "golden example "+ex.RoutingKey, ex.Body)
			}
			event, ok := events.SocketEvent(env.Type)
			if !ok {
				return
			}
			var d events.Delivery
			if err := env.DecodeData(&d); err != nil {
				t.Fatal(err)
			}
			msg, ok := socketMessage[event]
			if !ok {
				t.Fatalf("%s is emitted as %s, which the document does not describe", ex.RoutingKey, event)
			}
			validate(t, payloadSchema(t, c, msg), fmt.Sprintf("%s payload (Socket.IO %s)", ex.RoutingKey, event), d.Payload)
		})
	}

	n := 0
	for name, m := range doc.Components.Messages {
		for i, ex := range m.Examples {
			n++
			validate(t, payloadSchema(t, c, name), fmt.Sprintf("example %d of %s", i, name), ex.Payload)
		}
	}
	if n < 5 {
		t.Errorf("the document holds %d message examples; the walk is broken", n)
	}
}

// TestAsyncAPISchemasRefuseWhatTheCodeWouldNot: the schemas are strict
// where writers are (a field the code does not write is refused), so a
// golden example that drifts from the document fails.
func TestAsyncAPISchemasRefuseWhatTheCodeWouldNot(t *testing.T) {
	doc := loadAsyncAPI(t)
	c := doc.compiler(t)
	cases := []struct {
		message, body string
	}{
		{"realtime.presence.v1", `{"id":"01970f50-000e-7000-8000-00000000000e","type":"realtime.presence","version":1,"occurredAt":"2025-06-01T12:10:00Z","source":"chat-service","data":{"recipients":["01970f3a-7b3c-7d4e-9f50-6b7c8d9e0f12"],"payload":{"userId":"01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01","online":false,"lastSeenAt":"2025-06-01T12:10:00Z","mood":"away"}}}`},
		{"realtime.presence.v1", `{"id":"01970f50-000e-7000-8000-00000000000e","type":"realtime.typing","version":1,"occurredAt":"2025-06-01T12:10:00Z","source":"chat-service","data":{"recipients":["01970f3a-7b3c-7d4e-9f50-6b7c8d9e0f12"],"payload":{"userId":"01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01","online":false,"lastSeenAt":"2025-06-01T12:10:00Z"}}}`},
		{"auth.user.registered.v1", `{"id":"01970f50-0001-7000-8000-000000000001","type":"auth.user.registered","version":1,"occurredAt":"yesterday","source":"auth-service","data":{"userId":"01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01","username":"alice","email":"a@example.com","createdAt":"2025-06-01T10:00:00Z"}}`},
		{"presenceQuery", `{"userIds":[]}`},
		{"presenceQuery", `{"userIds":["not-an-id"]}`},
		{"presenceQueryAck", `{"ok":true,"presence":[{"userId":"01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01"}]}`},
		{"messageSendAck", `{"ok":false}`},
	}
	for _, tc := range cases {
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if err := payloadSchema(t, c, tc.message).Validate(v); err == nil {
			t.Errorf("%s accepted %s", tc.message, tc.body)
		}
	}
}
