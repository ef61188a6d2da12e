package realtime

import (
	"encoding/json"
	"testing"
)

func TestAckStatus(t *testing.T) {
	tests := []struct {
		name string
		res  []any
		want int
	}{
		{"success", []any{map[string]any{"ok": true, "message": map[string]any{}}}, 200},
		{"chat-service error (JSON number)", []any{map[string]any{"ok": false, "error": map[string]any{"status": float64(404)}}}, 404},
		{"gateway error", errorAck(504, "gateway_timeout", ""), 504},
		{"empty", nil, 0},
		{"not an object", []any{"x"}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ackStatus(tc.res); got != tc.want {
				t.Errorf("ackStatus = %d, want %d", got, tc.want)
			}
		})
	}
}

// The outcome of chat-service's acks is read from their JSON, which goes to
// the client untouched; a failure without a traceId gets the command's.
func TestAckHeadOfChatServiceJSON(t *testing.T) {
	tests := []struct {
		name        string
		raw         string
		status      int
		code, trace string
	}{
		{"success", `{"ok":true,"message":{"id":"m1","seq":3}}`, 200, "ok", ""},
		{"failure", `{"ok":false,"error":{"status":503,"code":"overloaded","traceId":"abc"},"retryAfterMs":1000}`, 503, "overloaded", "abc"},
		{"status out of range", `{"ok":false,"error":{"status":7,"code":"x"}}`, 0, "x", ""},
		{"neither shape", `{"hello":1}`, 0, "unknown", ""},
		{"not an object", `"x"`, 0, "unknown", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := headOf([]any{json.RawMessage(tc.raw)})
			if h.status != tc.status || h.code != tc.code || h.traceID != tc.trace {
				t.Errorf("headOf(%s) = %+v, want status %d code %q trace %q", tc.raw, h, tc.status, tc.code, tc.trace)
			}
		})
	}
	res := withTraceID([]any{json.RawMessage(`{"ok":false,"error":{"status":500,"code":"internal"}}`)}, "t1")
	if got := headOf(res); got.traceID != "t1" || got.status != 500 {
		t.Errorf("withTraceID on JSON: %+v, want the trace id added and the status kept", got)
	}
}
