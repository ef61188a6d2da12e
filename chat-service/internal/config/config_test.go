package config

import (
	"strings"
	"testing"

	"github.com/parleychat/parley/shared/envconfig"
)

func TestLoad(t *testing.T) {
	base := map[string]string{
		"DATABASE_URL":         "postgres://x",
		"AMQP_URL":             "amqp://x",
		"INTERNAL_PUBLIC_KEYS": "/keys/a.pem",
	}
	with := func(k, v string) map[string]string {
		m := map[string]string{}
		for a, b := range base {
			m[a] = b
		}
		if v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
		return m
	}
	cases := []struct {
		name    string
		env     map[string]string
		wantErr string // substring naming the variable; "" means valid
	}{
		{"defaults", base, ""},
		{"missing database", with("DATABASE_URL", ""), "DATABASE_URL"},
		{"missing keys", with("INTERNAL_PUBLIC_KEYS", ""), "INTERNAL_PUBLIC_KEYS"},
		{"bad level", with("LOG_LEVEL", "loud"), "LOG_LEVEL"},
		{"bad duration", with("SHUTDOWN_TIMEOUT", "soon"), "SHUTDOWN_TIMEOUT"},
		{"negative rate", with("MESSAGE_RATE", "-1"), "MESSAGE_RATE"},
		{"tiny retention", with("EVENT_RETENTION", "1m"), "EVENT_RETENTION"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var c Config
			err := envconfig.LoadFrom(&c, tc.env)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				if c.HTTPAddr != "127.0.0.1:8083" || c.MessageRate != 10 || c.MessageBurst != 20 {
					t.Errorf("defaults = %+v", c)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}
