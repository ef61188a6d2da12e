// Package config loads and validates auth-service's configuration from the
// environment, once, at start-up.
package config

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/envconfig"
	"github.com/parleychat/parley/shared/token"
)

// Config is everything auth-service reads from its environment.
type Config struct {
	// HTTPAddr is an internal address: only the gateway should reach it,
	// and every API route also demands the gateway's internal token.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:"127.0.0.1:8081"`
	// OpsAddr is the internal operations listener: full readiness with
	// every dependency's status, Prometheus metrics and pprof. Never the
	// public address.
	OpsAddr          string `env:"OPS_ADDR" envDefault:"127.0.0.1:9081"`
	DatabaseURL      string `env:"DATABASE_URL,required"`
	AMQPURL          string `env:"AMQP_URL,required"`
	ElasticsearchURL string `env:"ELASTICSEARCH_URL"`
	// LogRetentionDays: daily log and metric indices older than this many
	// days are deleted from Elasticsearch.
	LogRetentionDays int           `env:"LOG_RETENTION_DAYS" envDefault:"14"`
	LogLevel         string        `env:"LOG_LEVEL" envDefault:"info"`
	ShutdownTimeout  time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`

	// InternalPublicKeys lists PEM files (comma-separated) whose keys verify
	// the gateway's internal tokens.
	InternalPublicKeys string `env:"INTERNAL_PUBLIC_KEYS,required"`
	// SessionSigningKey is the PEM file of the Ed25519 key that signs
	// session tokens; SessionSigningKeyPEM gives the PEM itself instead
	// (for platforms that inject secrets as values). Exactly one is set.
	SessionSigningKey    string `env:"SESSION_SIGNING_KEY"`
	SessionSigningKeyPEM string `env:"SESSION_SIGNING_KEY_PEM"`

	AccessTokenTTL  time.Duration `env:"ACCESS_TOKEN_TTL" envDefault:"15m"`
	RefreshTokenTTL time.Duration `env:"REFRESH_TOKEN_TTL" envDefault:"720h"`
	// RefreshReuseGrace is how long a just-rotated refresh token still
	// yields its successor (tabs refreshing at once).
	RefreshReuseGrace time.Duration `env:"REFRESH_REUSE_GRACE" envDefault:"10s"`
	// HashConcurrency bounds argon2id hashes in flight; each takes 19 MiB.
	HashConcurrency int `env:"HASH_CONCURRENCY" envDefault:"4"`

	// Failed logins within LOGIN_FAILURE_WINDOW: per (account, client IP)
	// first, per account from every address at a much higher bound (so an
	// attacker cannot lock the owner out of their own address), per client
	// IP over all accounts; refused signups per client IP.
	LoginFailureWindow        time.Duration `env:"LOGIN_FAILURE_WINDOW" envDefault:"15m"`
	LoginFailuresPerAccountIP int           `env:"LOGIN_FAILURES_PER_ACCOUNT_IP" envDefault:"10"`
	LoginFailuresPerAccount   int           `env:"LOGIN_FAILURES_PER_ACCOUNT" envDefault:"100"`
	LoginFailuresPerIP        int           `env:"LOGIN_FAILURES_PER_IP" envDefault:"50"`
	SignupConflictsPerIP      int           `env:"SIGNUP_CONFLICTS_PER_IP" envDefault:"20"`

	// Per-user cost caps: active sessions per account (a login beyond it
	// ends the oldest session) and accounts created per client IP within
	// SIGNUP_WINDOW (429 with Retry-After beyond it).
	MaxSessionsPerAccount int           `env:"MAX_SESSIONS_PER_ACCOUNT" envDefault:"50"`
	SignupsPerIP          int           `env:"SIGNUPS_PER_IP" envDefault:"100"`
	SignupWindow          time.Duration `env:"SIGNUP_WINDOW" envDefault:"1h"`
}

// Load reads the configuration through getenv (os.Getenv in main, a map
// lookup in tests) and validates it.
func Load(getenv func(string) string) (Config, error) {
	var c Config
	if err := envconfig.LoadWith(&c, getenv); err != nil {
		return Config{}, err
	}
	return c, nil
}

// Validate checks combinations and ranges that env tags cannot express.
func (c *Config) Validate() error {
	var errs []error
	if (c.SessionSigningKey == "") == (c.SessionSigningKeyPEM == "") {
		errs = append(errs, errors.New("set exactly one of SESSION_SIGNING_KEY (a PEM file) and SESSION_SIGNING_KEY_PEM"))
	}
	if c.AccessTokenTTL <= 0 || c.AccessTokenTTL > time.Hour {
		errs = append(errs, fmt.Errorf("ACCESS_TOKEN_TTL: %s must be in (0, 1h]", c.AccessTokenTTL))
	}
	if c.RefreshTokenTTL <= c.AccessTokenTTL {
		errs = append(errs, fmt.Errorf("REFRESH_TOKEN_TTL: %s must exceed ACCESS_TOKEN_TTL", c.RefreshTokenTTL))
	}
	if c.RefreshReuseGrace < 0 || c.RefreshReuseGrace > time.Minute {
		errs = append(errs, fmt.Errorf("REFRESH_REUSE_GRACE: %s must be in [0, 1m]", c.RefreshReuseGrace))
	}
	if c.HashConcurrency < 1 {
		errs = append(errs, errors.New("HASH_CONCURRENCY must be at least 1"))
	}
	if c.LoginFailureWindow <= 0 || c.LoginFailuresPerAccountIP < 1 || c.LoginFailuresPerAccount < 1 ||
		c.LoginFailuresPerIP < 1 || c.SignupConflictsPerIP < 1 {
		errs = append(errs, errors.New("LOGIN_FAILURE_WINDOW and the LOGIN_FAILURES_*/SIGNUP_CONFLICTS_PER_IP limits must be positive"))
	}
	if c.LoginFailuresPerAccount < c.LoginFailuresPerAccountIP {
		errs = append(errs, errors.New("LOGIN_FAILURES_PER_ACCOUNT must be at least LOGIN_FAILURES_PER_ACCOUNT_IP, or one address could lock the owner out"))
	}
	if c.MaxSessionsPerAccount < 1 || c.SignupsPerIP < 1 || c.SignupWindow <= 0 {
		errs = append(errs, errors.New("MAX_SESSIONS_PER_ACCOUNT, SIGNUPS_PER_IP and SIGNUP_WINDOW must be positive"))
	}
	if err := envconfig.CheckOpsAddr(c.OpsAddr, c.HTTPAddr); err != nil {
		errs = append(errs, err)
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT must be positive"))
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	return errors.Join(errs...)
}

// Level returns the parsed log level (Validate has checked it).
func (c *Config) Level() zerolog.Level {
	l, _ := zerolog.ParseLevel(c.LogLevel)
	return l
}

// SigningKey loads the session-token signing key from the file or value.
func (c *Config) SigningKey() (ed25519.PrivateKey, error) {
	if c.SessionSigningKeyPEM != "" {
		k, err := token.ParsePrivateKeyPEM([]byte(c.SessionSigningKeyPEM))
		if err != nil {
			return nil, fmt.Errorf("SESSION_SIGNING_KEY_PEM: %w", err)
		}
		return k, nil
	}
	k, err := token.LoadPrivateKey(c.SessionSigningKey)
	if err != nil {
		return nil, fmt.Errorf("SESSION_SIGNING_KEY: %w", err)
	}
	return k, nil
}

// InternalKeys loads the key set that verifies internal tokens.
func (c *Config) InternalKeys() (*token.KeySet, error) {
	ks, err := token.ParseKeyList(c.InternalPublicKeys)
	if err != nil {
		return nil, fmt.Errorf("INTERNAL_PUBLIC_KEYS: %w", err)
	}
	return ks, nil
}
