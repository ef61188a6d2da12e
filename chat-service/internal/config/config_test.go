package config

import (
	"strings"
	"testing"
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
		{"ops address off", with("OPS_ADDR", "off"), "OPS_ADDR"},
		{"ops address is the public one", with("OPS_ADDR", "127.0.0.1:8083"), "OPS_ADDR"},
		{"no user credit", with("LINK_USER_COMMANDS", "0"), "LINK_USER_COMMANDS"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(func(k string) string { return tc.env[k] })
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("err = %v, want nil", err)
				}
				if c.HTTPAddr != "127.0.0.1:8083" || c.OpsAddr != "127.0.0.1:9083" || c.MessageRate != 10 || c.MessageBurst != 20 ||
					c.ConsumerName != "chat-service" || c.LinkUserCommands != 16 {
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

func TestConsumerNameAndItsDeprecatedAlias(t *testing.T) {
	base := map[string]string{"DATABASE_URL": "postgres://x", "AMQP_URL": "amqp://x", "INTERNAL_PUBLIC_KEYS": "/keys/a.pem"}
	cases := []struct {
		name     string
		set      map[string]string
		wantName string
	}{
		{"default", nil, "chat-service"},
		{"CONSUMER_NAME", map[string]string{"CONSUMER_NAME": "run-1"}, "run-1"},
		{"deprecated AMQP_CONSUMER_NAME", map[string]string{"AMQP_CONSUMER_NAME": "run-2"}, "run-2"},
		{"CONSUMER_NAME wins", map[string]string{"CONSUMER_NAME": "new", "AMQP_CONSUMER_NAME": "old"}, "new"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Load(func(k string) string {
				if v, ok := tc.set[k]; ok {
					return v
				}
				return base[k]
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.ConsumerName != tc.wantName {
				t.Errorf("ConsumerName = %q, want %q", c.ConsumerName, tc.wantName)
			}
		})
	}
}
