package socketio

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/input"
)

// FuzzEnvelope feeds the link envelope reader any JSON the gateway (or
// anyone reaching the link) could send: it must never panic, and an
// envelope it reads must read the same after being written again.
func FuzzEnvelope(f *testing.F) {
	f.Add([]byte(`{"token":"a.b.c","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01","data":{"conversationId":"x"}}`))
	f.Add([]byte(`{"token":"t","data":null,"addedLater":[1,2]}`))
	f.Add([]byte(`{"token":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte("{\"token\":\"\xff\"}"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		env, err := decodeEnvelope(raw)
		if err != nil {
			return
		}
		out, err := json.Marshal(env)
		if err != nil {
			t.Fatalf("envelope %q read but cannot be written: %v", raw, err)
		}
		again, err := decodeEnvelope(out)
		if err != nil || again.Token != env.Token || again.Traceparent != env.Traceparent {
			t.Fatalf("envelope %q changed on a round trip: %+v vs %+v (%v)", raw, env, again, err)
		}
		if len(env.Data) > 0 && !bytes.Equal(compact(t, again.Data), compact(t, env.Data)) {
			t.Fatalf("envelope data %s changed on a round trip to %s", env.Data, again.Data)
		}
	})
}

func compact(t *testing.T, raw []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatalf("data %q is not JSON: %v", raw, err)
	}
	return b.Bytes()
}

// FuzzCommandData feeds every command's payload decoder any bytes: it must
// never panic, refuse only with a 400, and what it accepts must hold no
// text PostgreSQL would refuse.
func FuzzCommandData(f *testing.F) {
	f.Add(uint8(0), []byte(`{"conversationId":"0192f2d4-4c9e-7b7a-9d4e-5f1a2b3c4d5e","clientMsgId":"k","body":"hi"}`))
	f.Add(uint8(1), []byte(`{"conversationId":"c","messageId":"m","body":"a\u0000b"}`))
	f.Add(uint8(2), []byte(`{"conversationId":"c","messageId":"m","extra":1}`))
	f.Add(uint8(3), []byte(`{"conversationId":"c","seq":2284.0}`))
	f.Add(uint8(4), []byte(`{"conversationId":"c","typing":"yes"}`))
	f.Add(uint8(5), []byte(`{"conversations":{"c":-1,"\u0000":1}}`))
	f.Add(uint8(5), []byte("{\"conversations\":{\"\xff\":1}}"))
	f.Add(uint8(3), []byte(`null`))
	f.Fuzz(func(t *testing.T, kind uint8, raw []byte) {
		dsts := []func() any{
			func() any { return &sendData{} }, func() any { return &editData{} }, func() any { return &deleteData{} },
			func() any { return &readData{} }, func() any { return &typingData{} }, func() any { return &syncData{} },
		}
		dst := dsts[int(kind)%len(dsts)]()
		err := decodeData(raw, dst)
		if err != nil {
			if p := chat.Problem(err); p.Status != 400 || len(p.Errors) == 0 {
				t.Fatalf("decodeData(%q) = %d %+v, want 400 with a field", raw, p.Status, p.Errors)
			}
			return
		}
		if fields := input.Strings(dst); len(fields) > 0 {
			t.Fatalf("decodeData(%q) accepted text %+v", raw, fields)
		}
	})
}
