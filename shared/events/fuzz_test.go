package events

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode feeds arbitrary bodies to the envelope decoder every consumer
// runs on what arrives from RabbitMQ: it must never panic, an envelope it
// accepts must carry what consumers rely on (an id, type and source that
// PostgreSQL can store, a version, data), and re-encoding it must decode
// to the same envelope.
func FuzzDecode(f *testing.F) {
	for _, ex := range Examples() {
		f.Add(ex.Body)
	}
	f.Add([]byte(`{"id":"e1","type":"t","version":1,"data":{}}`))
	f.Add([]byte(`{"id":"\u0000","type":"t","version":1,"source":"s","data":{}}`))
	f.Add([]byte(`{"id":"e1","type":"t","version":1,"source":"\ud800","data":null}`))
	f.Add([]byte(`{"id":"e1","type":"t","version":9223372036854775808,"data":{}}`))
	f.Add([]byte(`{"id":"e1","type":"t","version":1,"occurredAt":"10000-01-01T00:00:00Z","data":{}}`))
	f.Add([]byte("{\"id\":\"\xff\",\"type\":\"t\",\"version\":1,\"data\":{}}"))
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := Decode(body)
		if err != nil {
			return
		}
		for name, v := range map[string]string{"id": e.ID, "type": e.Type, "source": e.Source} {
			if !utf8.ValidString(v) || strings.ContainsRune(v, 0) {
				t.Errorf("accepted an envelope whose %s %q PostgreSQL cannot store", name, v)
			}
		}
		if e.ID == "" || e.Type == "" || e.Version < 1 || len(e.Data) == 0 {
			t.Errorf("accepted an incomplete envelope %+v", e)
		}
		if newPayload, ok := payloadTypes[e.RoutingKey()]; ok {
			_ = e.DecodeData(newPayload()) // may fail, must not panic
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("re-encode accepted envelope: %v", err)
		}
		back, err := Decode(again)
		if err != nil || back.ID != e.ID || back.Type != e.Type || back.Version != e.Version || back.Source != e.Source {
			t.Errorf("round trip changed the envelope: %+v -> %+v (%v)", e, back, err)
		}
	})
}
