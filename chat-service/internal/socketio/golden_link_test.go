package socketio

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parleychat/parley/shared/link"
)

// goldenLinkDir holds shared's golden link examples: testdata/*.json as the
// gateway sends them now, testdata/v<X.Y.Z>/ as each release sent them.
const goldenLinkDir = "../../../shared/link/testdata"

// commandData is the payload type each command decodes its data into.
var commandData = map[string]func() any{
	link.MessageSend:      func() any { return new(sendData) },
	link.MessageEdit:      func() any { return new(editData) },
	link.MessageDelete:    func() any { return new(deleteData) },
	link.ConversationRead: func() any { return new(readData) },
	link.Typing:           func() any { return new(typingData) },
	link.Sync:             func() any { return new(syncData) },
	link.PresenceQuery:    func() any { return new(presenceQueryData) },
}

// TestGoldenEnvelopesOfEveryGatewayRelease: chat-service reads the command
// envelope of every gateway release (and of the working tree), also when a
// newer gateway adds fields to it, and its strict decoding of the client's
// data accepts every example's payload.
func TestGoldenEnvelopesOfEveryGatewayRelease(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(goldenLinkDir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	older, err := filepath.Glob(filepath.Join(goldenLinkDir, "v*", "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range link.Commands {
		if commandData[c] == nil {
			t.Errorf("command %s: no payload type in this test", c)
		}
	}
	seen := 0
	for _, p := range append(paths, older...) {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		if strings.HasPrefix(name, "ack.") {
			continue
		}
		seen++
		t.Run(strings.TrimPrefix(p, goldenLinkDir+"/"), func(t *testing.T) {
			body, err := os.ReadFile(p)
			if err != nil {
				t.Fatal(err)
			}
			command := strings.Replace(name, ".", ":", 1)
			newData, ok := commandData[command]
			if !ok {
				t.Fatalf("%s is no command chat-service handles", command)
			}
			env, err := decodeEnvelope(body)
			if err != nil {
				t.Fatal(err)
			}
			var fields map[string]any
			if err := json.Unmarshal(body, &fields); err != nil {
				t.Fatal(err)
			}
			fields["sentByANewerGateway"] = map[string]any{"x": []any{1, "y"}}
			fields["hop"] = 2
			newer, err := json.Marshal(fields)
			if err != nil {
				t.Fatal(err)
			}
			fromNewer, err := decodeEnvelope(newer)
			if err != nil {
				t.Fatalf("an envelope with fields from a newer gateway: %v", err)
			}
			viaMap := envelopeOf(fields)
			for _, e := range []link.Envelope{fromNewer, viaMap} {
				if e.Token != env.Token || e.Traceparent != env.Traceparent || !sameJSON(t, e.Data, env.Data) {
					t.Errorf("read %+v, want %+v", e, env)
				}
			}
			if err := decodeData(env.Data, newData()); err != nil {
				t.Errorf("the example's data is refused: %v", err)
			}
		})
	}
	if seen < len(link.Commands) {
		t.Errorf("%d command examples under %s, want at least one per command (%d)", seen, goldenLinkDir, len(link.Commands))
	}
}

// sameJSON compares two JSON values regardless of layout and key order.
func sameJSON(t *testing.T, a, b []byte) bool {
	t.Helper()
	var x, y any
	if err := json.NewDecoder(bytes.NewReader(a)).Decode(&x); err != nil {
		t.Fatal(err)
	}
	if err := json.NewDecoder(bytes.NewReader(b)).Decode(&y); err != nil {
		t.Fatal(err)
	}
	return reflect.DeepEqual(x, y)
}
