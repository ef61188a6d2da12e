package config

import (
	"strings"
	"testing"
	"time"
)

func base() map[string]string {
	return map[string]string{
		"SESSION_PUBLIC_KEYS":  "/keys/auth.pem",
		"INTERNAL_SIGNING_KEY": "/keys/gateway.pem",
		"AMQP_URL":             "amqp://localhost/",
	}
}

func with(kv ...string) map[string]string {
	m := base()
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "" {
			delete(m, kv[i])
		} else {
			m[kv[i]] = kv[i+1]
		}
	}
	return m
}

func TestDefaults(t *testing.T) {
	c, err := load(base())
	if err != nil {
		t.Fatalf("LoadFrom: %v", err)
	}
	if c.HTTPAddr != ":8080" || c.AuthURL != "http://127.0.0.1:8081" || c.ChatURL != "http://127.0.0.1:8083" {
		t.Errorf("addresses = %s %s %s", c.HTTPAddr, c.AuthURL, c.ChatURL)
	}
	if c.UpstreamTimeout != 10*time.Second || c.MaxBodyBytes != 1<<20 {
		t.Errorf("timeout %s, body %d; want 10s and 1 MiB", c.UpstreamTimeout, c.MaxBodyBytes)
	}
	if len(c.AllowedOrigins) != 2 || c.SecureCookies() || c.TLS() {
		t.Errorf("origins %v secure %v tls %v", c.AllowedOrigins, c.SecureCookies(), c.TLS())
	}
	if c.OpsAddr != "127.0.0.1:9080" || c.SocketsPerUser != 16 {
		t.Errorf("OPS_ADDR %q, SOCKETS_PER_USER %d; want 127.0.0.1:9080 and 16", c.OpsAddr, c.SocketsPerUser)
	}
	if c.GatewayID == "" {
		t.Error("GatewayID is empty, want host name plus a random suffix")
	}
	other, _ := load(base())
	if other.GatewayID == c.GatewayID {
		t.Error("two instances got the same default GATEWAY_ID")
	}
}

func TestSecureCookies(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want bool
	}{
		{with("COOKIE_SECURE", "true"), true},
		{with("TLS_CERT", "/c.pem", "TLS_KEY", "/k.pem"), true},
		{base(), false},
	} {
		c, err := load(tc.env)
		if err != nil {
			t.Fatal(err)
		}
		if c.SecureCookies() != tc.want {
			t.Errorf("%v: SecureCookies = %v, want %v", tc.env, c.SecureCookies(), tc.want)
		}
	}
}

func TestRejects(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		wantErr string
	}{
		{"missing signing key", with("INTERNAL_SIGNING_KEY", ""), "INTERNAL_SIGNING_KEY"},
		{"missing session keys", with("SESSION_PUBLIC_KEYS", ""), "SESSION_PUBLIC_KEYS"},
		{"missing AMQP_URL", with("AMQP_URL", ""), "AMQP_URL"},
		{"relative service URL", with("CHAT_URL", "chat:8083"), "CHAT_URL"},
		{"origin with a path", with("ALLOWED_ORIGINS", "https://a.test/app"), "ALLOWED_ORIGINS"},
		{"TLS cert without key", with("TLS_CERT", "/c.pem"), "TLS_KEY"},
		{"bad timeout", with("UPSTREAM_TIMEOUT", "soon"), "UPSTREAM_TIMEOUT"},
		{"zero body limit", with("MAX_BODY_BYTES", "0"), "MAX_BODY_BYTES"},
		{"bad log level", with("LOG_LEVEL", "loud"), "LOG_LEVEL"},
		{"ops address off", with("OPS_ADDR", "off"), "OPS_ADDR"},
		{"ops address without port", with("OPS_ADDR", "127.0.0.1"), "OPS_ADDR"},
		{"ops address is the public one", with("OPS_ADDR", ":8080"), "OPS_ADDR"},
		{"no sockets per user", with("SOCKETS_PER_USER", "0"), "SOCKETS_PER_USER"},
		{"relative second users instance", with("USERS_URL", "http://127.0.0.1:8082,users:8082"), "USERS_URL"},
		{"zero read timeout", with("UPSTREAM_READ_TIMEOUT", "0s"), "UPSTREAM_READ_TIMEOUT"},
		{"no breaker failures", with("BREAKER_FAILURES", "0"), "BREAKER_FAILURES"},
		{"retry budget above 1", with("RETRY_BUDGET", "2"), "RETRY_BUDGET"},
		{"negative rate", with("RATE_LIMIT_USER_READ", "-1"), "RATE_LIMIT_USER_READ"},
		{"rate not a number", with("RATE_LIMIT_IP", "many"), "RATE_LIMIT_IP"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := load(tc.env)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("err = %v, want one naming %s", err, tc.wantErr)
			}
		})
	}
}

// load runs Load over m, as main does over the process environment.
func load(m map[string]string) (Config, error) {
	return Load(func(k string) string { return m[k] })
}
