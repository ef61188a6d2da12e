// Package harness starts real Parley stacks for end-to-end tests: fresh
// databases and a fresh RabbitMQ virtual host per stack, the four service
// binaries built from this checkout, and helpers to kill and restart them.
package harness

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// Infra holds what scripts/infra wrote to .local/env.
type Infra struct {
	PGAdminURL       string
	AuthDatabaseURL  string
	UsersDatabaseURL string
	ChatDatabaseURL  string
	AMQPURL          string
	ElasticsearchURL string
	SessionKey       string // private, auth-service signs
	SessionPublic    string
	InternalKey      string // private, gateway signs
	InternalPublic   string
	Script           string // path of scripts/infra
}

// LoadInfra reads the infrastructure variables, failing the test with a
// clear message when they are missing.
func LoadInfra(t testing.TB) Infra {
	t.Helper()
	get := func(name string) string {
		v := os.Getenv(name)
		if v == "" {
			t.Fatalf("%s is not set: run `scripts/infra up` and `set -a; source .local/env` (make test does both)", name)
		}
		return v
	}
	script := os.Getenv("PARLEY_INFRA")
	if script == "" {
		script = filepath.Join(RepoRoot(), "scripts", "infra")
	}
	return Infra{
		PGAdminURL:       get("PG_ADMIN_URL"),
		AuthDatabaseURL:  get("AUTH_DATABASE_URL"),
		UsersDatabaseURL: get("USERS_DATABASE_URL"),
		ChatDatabaseURL:  get("CHAT_DATABASE_URL"),
		AMQPURL:          get("AMQP_URL"),
		ElasticsearchURL: get("ELASTICSEARCH_URL"),
		SessionKey:       get("SESSION_SIGNING_KEY"),
		SessionPublic:    get("SESSION_PUBLIC_KEYS"),
		InternalKey:      get("INTERNAL_SIGNING_KEY"),
		InternalPublic:   get("INTERNAL_PUBLIC_KEYS"),
		Script:           script,
	}
}

// RepoRoot is the root of this checkout.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}
