package socketio_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/parleychat/parley/shared/token"
)

// TestCraftedPayloadsNeverGive5xx sends command payloads an attacker would
// try: each gets the 4xx a REST body would, with the field at fault.
func TestCraftedPayloadsNeverGive5xx(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	alice, _, conv, sock := f.directOverLink(t)
	at := f.tokenFor(t, alice, token.AudienceChat)
	// raw is a payload written as JSON text, sent as the value it decodes
	// to (Socket.IO carries values, not text).
	raw := func(s string) any {
		dec := json.NewDecoder(strings.NewReader(s))
		dec.UseNumber()
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("test payload %s: %v", s, err)
		}
		return v
	}
	cases := []struct {
		name, event string
		data        any
		status      int
		field       string
	}{
		// Socket.IO decodes numbers as float64: 2284.0 is 2284 on arrival,
		// a fraction or a value past int64 is refused.
		{"integral float seq", "conversation:read", raw(`{"conversationId":"` + conv.ID + `","seq":2284.0}`), 0, ""},
		{"fractional seq", "conversation:read", raw(`{"conversationId":"` + conv.ID + `","seq":2284.5}`), 400, "seq"},
		{"huge seq", "conversation:read", raw(`{"conversationId":"` + conv.ID + `","seq":1e30}`), 400, "seq"},
		{"string seq", "conversation:read", raw(`{"conversationId":"` + conv.ID + `","seq":"1"}`), 400, "seq"},
		{"negative seq", "conversation:read", raw(`{"conversationId":"` + conv.ID + `","seq":-1}`), 400, "seq"},
		{"urn:uuid conversation", "conversation:read", raw(`{"conversationId":"urn:uuid:` + conv.ID + `","seq":1}`), 404, ""},
		{"NUL in body", "message:send", raw(`{"conversationId":"` + conv.ID + `","clientMsgId":"n","body":"a\u0000b"}`), 400, "body"},
		{"NUL in clientMsgId", "message:send", raw(`{"conversationId":"` + conv.ID + `","clientMsgId":"\u0000","body":"x"}`), 400, "clientMsgId"},
		{"NUL in conversation id", "typing", raw(`{"conversationId":"\u0000","typing":true}`), 400, "conversationId"},
		{"urn:uuid message", "message:edit", raw(`{"conversationId":"` + conv.ID + `","messageId":"urn:uuid:` + conv.ID + `","body":"x"}`), 404, ""},
		{"sync negative seq", "sync", raw(`{"conversations":{"` + conv.ID + `":-1}}`), 400, "conversations." + conv.ID},
		{"sync float seq", "sync", raw(`{"conversations":{"` + conv.ID + `":1.5}}`), 400, ""},
		{"sync overflowing seq", "sync", raw(`{"conversations":{"` + conv.ID + `":9223372036854775808}}`), 400, ""},
		{"sync NUL key", "sync", raw(`{"conversations":{"\u0000":1}}`), 400, "conversations"},
		{"sync not a map", "sync", raw(`{"conversations":[1,2]}`), 400, "conversations"},
		{"data is an array", "typing", raw(`[1]`), 400, ""},
		{"data is a string", "message:delete", "x", 400, ""},
		{"no data", "message:delete", nil, 400, "data"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := command(t, sock, tc.event, at, tc.data)
			if tc.status == 0 {
				if !a.OK {
					t.Fatalf("ack = %+v, want ok", a.Error)
				}
				return
			}
			if a.OK || a.Error == nil || a.Error.Status != tc.status {
				t.Fatalf("ack = %+v (error %+v), want status %d", a, a.Error, tc.status)
			}
			// Like a REST problem, the ack names the trace of the command.
			if a.Error.TraceID != "4bf92f3577b34da6a3ce929d0e0e4736" {
				t.Errorf("traceId = %q, want the command's trace", a.Error.TraceID)
			}
			if tc.field != "" && (len(a.Error.Errors) == 0 || a.Error.Errors[0].Field != tc.field) {
				t.Errorf("errors = %+v, want field %s", a.Error.Errors, tc.field)
			}
		})
	}
	// A valid sync still works at the largest seq a float64 carries exactly.
	if a := command(t, sock, "sync", at, map[string]any{"conversations": map[string]int64{conv.ID: 1 << 53}}); !a.OK {
		t.Errorf("sync at seq 2^53 = %+v, want ok", a.Error)
	}
}
