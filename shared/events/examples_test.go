package events_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/trace"
)

func strictDecode(t *testing.T, what string, data []byte, dst any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		t.Fatalf("%s: strict decode: %v", what, err)
	}
	if dec.More() {
		t.Fatalf("%s: trailing data after the JSON value", what)
	}
}

func TestEveryEventTypeHasAnExampleAndEveryExampleAType(t *testing.T) {
	var have []string
	for _, ex := range events.Examples() {
		have = append(have, ex.RoutingKey)
	}
	if want := events.RoutingKeys(); !slices.Equal(have, want) {
		t.Errorf("examples in testdata/ = %v\nrouting keys with a payload type = %v", have, want)
	}
}

func TestExamplesDecodeStrictlyIntoTheirTypes(t *testing.T) {
	for _, ex := range events.Examples() {
		t.Run(ex.RoutingKey, func(t *testing.T) {
			var env events.Envelope
			strictDecode(t, "envelope", ex.Body, &env)
			if _, err := events.Decode(ex.Body); err != nil {
				t.Fatalf("events.Decode: %v", err)
			}
			if got := env.RoutingKey(); got != ex.RoutingKey {
				t.Errorf("routing key from type and version = %q, want the file name %q", got, ex.RoutingKey)
			}
			if env.OccurredAt.IsZero() || env.Source == "" {
				t.Errorf("occurredAt %v, source %q: both are required", env.OccurredAt, env.Source)
			}
			if _, ok := trace.Parse(env.Traceparent); !ok {
				t.Errorf("traceparent %q does not parse", env.Traceparent)
			}

			payload, ok := events.NewPayload(ex.RoutingKey)
			if !ok {
				t.Fatalf("no payload type for %s", ex.RoutingKey)
			}
			strictDecode(t, "data", env.Data, payload)
			// Re-encoding gives back the example: it shows every field of
			// the type (none left to its zero value by omission).
			again, err := json.Marshal(payload)
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			_ = json.Unmarshal(again, &got)
			_ = json.Unmarshal(env.Data, &want)
			if !reflect.DeepEqual(got, want) {
				t.Errorf("re-encoded data differs from the example:\ngot  %s\nwant %s", again, env.Data)
			}

			if d, ok := payload.(*events.Delivery); ok {
				if len(d.Recipients) == 0 {
					t.Error("a delivery without recipients reaches nobody")
				}
				var obj map[string]any
				if err := json.Unmarshal(d.Payload, &obj); err != nil {
					t.Errorf("delivery payload is not a JSON object: %v", err)
				}
				if _, ok := events.SocketEvent(env.Type); !ok {
					t.Errorf("delivery type %s has no Socket.IO event", env.Type)
				}
			}
		})
	}
}

func TestExampleFor(t *testing.T) {
	tests := []struct {
		key    string
		wantOK bool
	}{
		{"auth.user.registered.v1", true},
		{"users.profile.updated.v1", true},
		{"auth.user.registered.v9", false},
	}
	for _, tt := range tests {
		env, ok := events.ExampleFor(tt.key)
		if ok != tt.wantOK || (ok && env.RoutingKey() != tt.key) {
			t.Errorf("ExampleFor(%s) = %s, %v; want ok=%v", tt.key, env.RoutingKey(), ok, tt.wantOK)
		}
	}
}
