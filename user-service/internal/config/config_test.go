package config

import (
	"strings"
	"testing"
	"time"
)

func base() map[string]string {
	return map[string]string{
		"DATABASE_URL":         "postgres://u@localhost/users",
		"AMQP_URL":             "amqp://localhost",
		"INTERNAL_PUBLIC_KEYS": "/keys/gateway.pub.pem",
	}
}

// lookup reads env as os.Getenv reads the process environment.
func lookup(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

func TestLoadDefaults(t *testing.T) {
	c, err := Load(lookup(base()))
	if err != nil {
		t.Fatal(err)
	}
	if c.HTTPAddr != "127.0.0.1:8082" || c.OpsAddr != "127.0.0.1:9082" || c.ConsumerName != "user-service" || c.ConsumerMaxAttempts != 5 ||
		c.ConsumerRetryDelay != time.Second || c.ShutdownTimeout != 10*time.Second {
		t.Errorf("defaults = %+v", c)
	}
}

func TestLoadRefusesBadValuesNamingTheVariable(t *testing.T) {
	tests := []struct {
		name    string
		set     map[string]string
		drop    string
		wantVar string
	}{
		{"database missing", nil, "DATABASE_URL", "DATABASE_URL"},
		{"broker missing", nil, "AMQP_URL", "AMQP_URL"},
		{"keys missing", nil, "INTERNAL_PUBLIC_KEYS", "INTERNAL_PUBLIC_KEYS"},
		{"prefetch zero", map[string]string{"CONSUMER_PREFETCH": "0"}, "", "CONSUMER_PREFETCH"},
		{"concurrency above prefetch", map[string]string{"CONSUMER_PREFETCH": "2", "CONSUMER_CONCURRENCY": "3"}, "", "CONSUMER_CONCURRENCY"},
		{"attempts zero", map[string]string{"CONSUMER_MAX_ATTEMPTS": "0"}, "", "CONSUMER_MAX_ATTEMPTS"},
		{"retry delay not a duration", map[string]string{"CONSUMER_RETRY_DELAY": "soon"}, "", "CONSUMER_RETRY_DELAY"},
		{"log level", map[string]string{"LOG_LEVEL": "loud"}, "", "LOG_LEVEL"},
		{"ops address off", map[string]string{"OPS_ADDR": "off"}, "", "OPS_ADDR"},
		{"ops address is the public one", map[string]string{"OPS_ADDR": "127.0.0.1:8082"}, "", "OPS_ADDR"},
	}
	for _, tt := range tests {
		env := base()
		delete(env, tt.drop)
		for k, v := range tt.set {
			env[k] = v
		}
		_, err := Load(lookup(env))
		if err == nil || !strings.Contains(err.Error(), tt.wantVar) {
			t.Errorf("%s: error %v, want one naming %s", tt.name, err, tt.wantVar)
		}
	}
}
