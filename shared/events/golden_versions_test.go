package events_test

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/internal/golden"
)

// decodeExample reads one example the way every consumer does: Decode, then
// DecodeData into the payload type of its routing key.
func decodeExample(t *testing.T, name string, body []byte) (events.Envelope, any) {
	t.Helper()
	env, err := events.Decode(body)
	if err != nil {
		t.Fatalf("%s: Decode: %v", name, err)
	}
	payload, ok := events.NewPayload(env.RoutingKey())
	if !ok {
		t.Fatalf("%s: routing key %s has no payload type any more: a consumer of the release that published it would lose it", name, env.RoutingKey())
	}
	if err := env.DecodeData(payload); err != nil {
		t.Fatalf("%s: DecodeData: %v", name, err)
	}
	return env, payload
}

// TestEveryReleasesExamplesDecode: the examples of every release (and of the
// working tree) decode with the current code, also when a newer producer
// adds fields to the envelope and to the payload; the added fields change
// nothing that is read.
func TestEveryReleasesExamplesDecode(t *testing.T) {
	files, err := golden.All("testdata")
	if err != nil {
		t.Fatal(err)
	}
	releases, err := golden.Releases("testdata")
	if err != nil {
		t.Fatal(err)
	}
	if len(releases) == 0 {
		t.Fatal("no release's examples under testdata/v*/ (scripts/release shared writes them)")
	}
	for _, f := range files {
		t.Run("v"+f.Version+"/"+f.Name, func(t *testing.T) {
			env, payload := decodeExample(t, f.Name, f.Body)
			if env.RoutingKey() != f.Name {
				t.Errorf("routing key %s, file %s", env.RoutingKey(), f.Name)
			}
			newer, err := golden.Newer(f.Body, "data")
			if err != nil {
				t.Fatal(err)
			}
			env2, payload2 := decodeExample(t, f.Name+" from a newer producer", newer)
			env.Data, env2.Data = nil, nil
			if a, b := asJSON(t, env, payload), asJSON(t, env2, payload2); !reflect.DeepEqual(a, b) {
				t.Errorf("unknown fields changed what is read:\n%v\n%v", a, b)
			}
		})
	}
}

// asJSON is what was read, as generic JSON values: raw payloads passed on
// untouched compare by content, not by layout.
func asJSON(t *testing.T, vs ...any) []any {
	t.Helper()
	out := make([]any, len(vs))
	for i, v := range vs {
		raw, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(raw, &out[i]); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
