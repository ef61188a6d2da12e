package realtime

import "testing"

func TestAckCodeIsBounded(t *testing.T) {
	long := make([]byte, 41)
	for i := range long {
		long[i] = 'x'
	}
	tests := []struct {
		res  []any
		want string
	}{
		{[]any{map[string]any{"ok": true}}, "ok"},
		{[]any{map[string]any{"ok": false, "error": map[string]any{"status": 503.0, "code": "overloaded"}}}, "overloaded"},
		{[]any{map[string]any{"ok": false, "error": map[string]any{"code": string(long)}}}, "unknown"},
		{[]any{"not an object"}, "unknown"},
		{nil, "unknown"},
	}
	for _, tt := range tests {
		if got := ackCode(tt.res); got != tt.want {
			t.Errorf("ackCode(%v) = %q, want %q", tt.res, got, tt.want)
		}
	}
}
