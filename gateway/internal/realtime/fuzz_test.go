package realtime

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleychat/parley/shared/input"
	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/problem"
)

// FuzzCommandPayload feeds a client's command payload, decoded from JSON as
// the Socket.IO parser decodes it, through what the gateway does with it
// before forwarding: splitting off the ack, the text check, the typing
// reader and the envelope's JSON encoding. A payload that passes holds only
// storable text and encodes; one that is refused gets a problem that
// encodes. Nothing panics.
func FuzzCommandPayload(f *testing.F) {
	for _, seed := range []string{
		`{"conversationId":"0190a0e4-0000-7000-8000-000000000001","clientMsgId":"k1","body":"hi"}`,
		`{"conversationId":"c1","typing":true}`,
		`{"conversations":{"c1":3,"c2":0}}`,
		`{"body":"a\u0000b"}`,
		`{"conversations":{"c\u0000":1}}`,
		`{"ids":["x",["y",{"z":"\u0000"}]]}`,
		`"just a string"`, `null`, `[1,2,3]`, `{"typing":"yes","conversationId":42}`,
		`{"body":"\ud800"}`, `{"":""}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var v any
		if json.Unmarshal(raw, &v) != nil {
			return
		}
		_, data := splitAck([]any{v})
		bad := input.Strings(data)
		if len(bad) == 0 {
			if s, ok := firstUnstorable(data); ok {
				t.Fatalf("payload with %q passed the text check", s)
			}
			if _, err := json.Marshal(data); err != nil {
				t.Fatalf("accepted payload does not encode: %v", err)
			}
		} else {
			for _, fe := range bad {
				if fe.Message == "" {
					t.Fatalf("field error without a message: %+v", fe)
				}
			}
			if _, err := json.Marshal(failedAck(link.Failed(problem.Validation(bad...)))); err != nil {
				t.Fatalf("refusal does not encode: %v", err)
			}
		}
		if _, convID, _, ok := typingSignal(data); ok && (convID == "" || input.Text(convID) != "") {
			t.Fatalf("typing signal accepted with conversationId %q", convID)
		}
	})
}

// firstUnstorable finds a string (or map key) in v that PostgreSQL text
// could not hold, by a walk of its own rather than input's.
func firstUnstorable(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		if !utf8.ValidString(x) || strings.ContainsRune(x, 0) {
			return x, true
		}
	case []any:
		for _, e := range x {
			if s, ok := firstUnstorable(e); ok {
				return s, true
			}
		}
	case map[string]any:
		for k, e := range x {
			if s, ok := firstUnstorable(k); ok {
				return s, true
			}
			if s, ok := firstUnstorable(e); ok {
				return s, true
			}
		}
	}
	return "", false
}
