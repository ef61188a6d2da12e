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
	HTTPAddr         string        `env:"HTTP_ADDR" envDefault:"127.0.0.1:8081"`
	DatabaseURL      string        `env:"DATABASE_URL,required"`
	AMQPURL          string        `env:"AMQP_URL,required"`
	ElasticsearchURL string        `env:"ELASTICSEARCH_URL"`
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

	LoginFailureWindow      time.Duration `env:"LOGIN_FAILURE_WINDOW" envDefault:"15m"`
	LoginFailuresPerAccount int           `env:"LOGIN_FAILURES_PER_ACCOUNT" envDefault:"10"`
	LoginFailuresPerIP      int           `env:"LOGIN_FAILURES_PER_IP" envDefault:"50"`
	SignupConflictsPerIP    int           `env:"SIGNUP_CONFLICTS_PER_IP" envDefault:"20"`
}

// Load reads the configuration from environ (nil: the process's).
func Load(environ map[string]string) (Config, error) {
	var c Config
	if err := envconfig.LoadFrom(&c, environ); err != nil {
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
	if c.LoginFailureWindow <= 0 || c.LoginFailuresPerAccount < 1 || c.LoginFailuresPerIP < 1 || c.SignupConflictsPerIP < 1 {
		errs = append(errs, errors.New("LOGIN_FAILURE_WINDOW and the LOGIN_FAILURES_*/SIGNUP_CONFLICTS_PER_IP limits must be positive"))
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
