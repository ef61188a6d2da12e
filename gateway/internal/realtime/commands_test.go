package realtime

import "testing"

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
