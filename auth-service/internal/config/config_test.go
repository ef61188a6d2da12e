package config

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/shared/token/tokentest"
)

func base() map[string]string {
	return map[string]string{
		"DATABASE_URL":         "postgres://x@127.0.0.1/auth",
		"AMQP_URL":             "amqp://x@127.0.0.1/",
		"INTERNAL_PUBLIC_KEYS": "/keys/gateway.pem",
		"SESSION_SIGNING_KEY":  "/keys/session.pem",
	}
}

func with(edit map[string]string) map[string]string {
	env := base()
	for k, v := range edit {
		if v == "-" {
			delete(env, k)
		} else {
			env[k] = v
		}
	}
	return env
}

// lookup reads env as os.Getenv reads the process environment.
func lookup(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(lookup(base()))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"HTTP_ADDR", c.HTTPAddr, "127.0.0.1:8081"},
		{"OPS_ADDR", c.OpsAddr, "127.0.0.1:9081"},
		{"ACCESS_TOKEN_TTL", c.AccessTokenTTL, 15 * time.Minute},
		{"REFRESH_TOKEN_TTL", c.RefreshTokenTTL, 720 * time.Hour},
		{"REFRESH_REUSE_GRACE", c.RefreshReuseGrace, 10 * time.Second},
		{"HASH_CONCURRENCY", c.HashConcurrency, 4},
		{"LOGIN_FAILURES_PER_ACCOUNT_IP", c.LoginFailuresPerAccountIP, 10},
		{"LOGIN_FAILURES_PER_ACCOUNT", c.LoginFailuresPerAccount, 100},
		{"MAX_SESSIONS_PER_ACCOUNT", c.MaxSessionsPerAccount, 50},
		{"SIGNUPS_PER_IP", c.SignupsPerIP, 100},
		{"SIGNUP_WINDOW", c.SignupWindow, time.Hour},
		{"LOGIN_FAILURES_PER_IP", c.LoginFailuresPerIP, 50},
		{"LOGIN_FAILURE_WINDOW", c.LoginFailureWindow, 15 * time.Minute},
		{"SHUTDOWN_TIMEOUT", c.ShutdownTimeout, 10 * time.Second},
	}
	for _, ch := range checks {
		if ch.got != ch.want {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
}

func TestLoadRefuses(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string // the variable the message must name
	}{
		{"no database", with(map[string]string{"DATABASE_URL": "-"}), "DATABASE_URL"},
		{"no broker", with(map[string]string{"AMQP_URL": "-"}), "AMQP_URL"},
		{"no internal keys", with(map[string]string{"INTERNAL_PUBLIC_KEYS": "-"}), "INTERNAL_PUBLIC_KEYS"},
		{"no signing key", with(map[string]string{"SESSION_SIGNING_KEY": "-"}), "SESSION_SIGNING_KEY"},
		{"two signing keys", with(map[string]string{"SESSION_SIGNING_KEY_PEM": "-----BEGIN"}), "SESSION_SIGNING_KEY_PEM"},
		{"bad duration", with(map[string]string{"ACCESS_TOKEN_TTL": "soon"}), "ACCESS_TOKEN_TTL"},
		{"access TTL over an hour", with(map[string]string{"ACCESS_TOKEN_TTL": "2h"}), "ACCESS_TOKEN_TTL"},
		{"refresh shorter than access", with(map[string]string{"REFRESH_TOKEN_TTL": "10m"}), "REFRESH_TOKEN_TTL"},
		{"grace too long", with(map[string]string{"REFRESH_REUSE_GRACE": "5m"}), "REFRESH_REUSE_GRACE"},
		{"no hashing", with(map[string]string{"HASH_CONCURRENCY": "0"}), "HASH_CONCURRENCY"},
		{"bad log level", with(map[string]string{"LOG_LEVEL": "loud"}), "LOG_LEVEL"},
		{"ops address off", with(map[string]string{"OPS_ADDR": "off"}), "OPS_ADDR"},
		{"ops address is the public one", with(map[string]string{"OPS_ADDR": "127.0.0.1:8081"}), "OPS_ADDR"},
		{"account bound below the pair bound", with(map[string]string{"LOGIN_FAILURES_PER_ACCOUNT": "5"}), "LOGIN_FAILURES_PER_ACCOUNT"},
		{"no sessions", with(map[string]string{"MAX_SESSIONS_PER_ACCOUNT": "0"}), "MAX_SESSIONS_PER_ACCOUNT"},
		{"no signups", with(map[string]string{"SIGNUPS_PER_IP": "0"}), "SIGNUPS_PER_IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(lookup(tc.env))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Load err = %v, want one naming %s", err, tc.want)
			}
		})
	}
}

func TestSigningKeyFromFileOrValue(t *testing.T) {
	priv := tokentest.NewKey(t)
	pemBytes := tokentest.PrivatePEM(t, priv)
	path := tokentest.WriteFile(t, t.TempDir(), "session.pem", pemBytes)
	for name, env := range map[string]map[string]string{
		"file":  with(map[string]string{"SESSION_SIGNING_KEY": path}),
		"value": with(map[string]string{"SESSION_SIGNING_KEY": "-", "SESSION_SIGNING_KEY_PEM": string(pemBytes)}),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := Load(lookup(env))
			if err != nil {
				t.Fatal(err)
			}
			got, err := c.SigningKey()
			if err != nil || !got.Equal(priv) {
				t.Errorf("SigningKey = %v, want the written key", err)
			}
		})
	}
	c, _ := Load(lookup(with(map[string]string{"SESSION_SIGNING_KEY": filepath.Join(t.TempDir(), "missing.pem")})))
	if _, err := c.SigningKey(); err == nil || !strings.Contains(err.Error(), "SESSION_SIGNING_KEY") {
		t.Errorf("missing key file: err = %v, want one naming SESSION_SIGNING_KEY", err)
	}
}
