package envconfig

import (
	"strings"
	"testing"
	"time"
)

func TestLoadWithReadsOnlyThroughGetenv(t *testing.T) {
	t.Setenv("WORKERS", "99") // the process environment must not leak in
	tests := []struct {
		name    string
		env     map[string]string
		want    sample
		wantErr string
	}{
		{"defaults", map[string]string{"DATABASE_URL": "postgres://x"},
			sample{Addr: "127.0.0.1:8080", Timeout: 5 * time.Second, Workers: 4, DB: "postgres://x"}, ""},
		{"empty counts as unset", map[string]string{"DATABASE_URL": "postgres://x", "WORKERS": ""},
			sample{Addr: "127.0.0.1:8080", Timeout: 5 * time.Second, Workers: 4, DB: "postgres://x"}, ""},
		{"set values", map[string]string{"DATABASE_URL": "postgres://y", "HTTP_ADDR": ":1", "WORKERS": "2"},
			sample{Addr: ":1", Timeout: 5 * time.Second, Workers: 2, DB: "postgres://y"}, ""},
		{"required missing", map[string]string{}, sample{}, "DATABASE_URL"},
		{"validated", map[string]string{"DATABASE_URL": "postgres://x", "WORKERS": "0"}, sample{}, "WORKERS"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got sample
			err := LoadWith(&got, func(k string) string { return tc.env[k] })
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want one naming %s", err, tc.wantErr)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got (%+v, %v), want %+v", got, err, tc.want)
			}
		})
	}
}
