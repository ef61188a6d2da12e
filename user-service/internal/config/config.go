// Package config loads and validates user-service's configuration from the
// environment, once, at start-up.
package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/envconfig"
	"github.com/parleychat/parley/shared/token"
)

// Config is everything user-service reads from its environment.
type Config struct {
	// HTTPAddr is an internal address: only the gateway should reach it,
	// and every API route also demands the gateway's internal token.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:"127.0.0.1:8082"`
	// OpsAddr is the internal operations listener: full readiness with
	// every dependency's status, Prometheus metrics and pprof. Never the
	// public address.
	OpsAddr          string `env:"OPS_ADDR" envDefault:"127.0.0.1:9082"`
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

	// ConsumerName is the first part of the queue name
	// (<name>.profiles). Change it only to run an isolated instance next to
	// the real one, as the component tests do.
	ConsumerName string `env:"CONSUMER_NAME" envDefault:"user-service"`
	// The user-service.profiles consumer: deliveries in flight, handler
	// goroutines, attempts before an event is dead-lettered, and the first
	// retry delay (doubling per attempt, at most a minute).
	ConsumerPrefetch    int           `env:"CONSUMER_PREFETCH" envDefault:"20"`
	ConsumerConcurrency int           `env:"CONSUMER_CONCURRENCY" envDefault:"4"`
	ConsumerMaxAttempts int           `env:"CONSUMER_MAX_ATTEMPTS" envDefault:"5"`
	ConsumerRetryDelay  time.Duration `env:"CONSUMER_RETRY_DELAY" envDefault:"1s"`

	// OutboxRetention is how long published outbox rows are kept;
	// ProcessedRetention how long consumed event ids are remembered (longer
	// than any redelivery can arrive late).
	OutboxRetention    time.Duration `env:"OUTBOX_RETENTION" envDefault:"24h"`
	ProcessedRetention time.Duration `env:"PROCESSED_EVENTS_RETENTION" envDefault:"720h"`
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

// Validate checks ranges that env tags cannot express.
func (c *Config) Validate() error {
	var errs []error
	if c.ConsumerName == "" {
		errs = append(errs, errors.New("CONSUMER_NAME must not be empty"))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT must be positive"))
	}
	if c.ConsumerPrefetch < 1 || c.ConsumerPrefetch > 1000 {
		errs = append(errs, fmt.Errorf("CONSUMER_PREFETCH: %d must be in [1, 1000]", c.ConsumerPrefetch))
	}
	if c.ConsumerConcurrency < 1 || c.ConsumerConcurrency > c.ConsumerPrefetch {
		errs = append(errs, fmt.Errorf("CONSUMER_CONCURRENCY: %d must be in [1, CONSUMER_PREFETCH]", c.ConsumerConcurrency))
	}
	if c.ConsumerMaxAttempts < 1 || c.ConsumerMaxAttempts > 100 {
		errs = append(errs, fmt.Errorf("CONSUMER_MAX_ATTEMPTS: %d must be in [1, 100]", c.ConsumerMaxAttempts))
	}
	if c.ConsumerRetryDelay <= 0 {
		errs = append(errs, errors.New("CONSUMER_RETRY_DELAY must be positive"))
	}
	if c.OutboxRetention <= 0 || c.ProcessedRetention < time.Hour {
		errs = append(errs, errors.New("OUTBOX_RETENTION must be positive and PROCESSED_EVENTS_RETENTION at least 1h"))
	}
	if err := envconfig.CheckOpsAddr(c.OpsAddr, c.HTTPAddr); err != nil {
		errs = append(errs, err)
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

// InternalKeys loads the key set that verifies internal tokens.
func (c *Config) InternalKeys() (*token.KeySet, error) {
	ks, err := token.ParseKeyList(c.InternalPublicKeys)
	if err != nil {
		return nil, fmt.Errorf("INTERNAL_PUBLIC_KEYS: %w", err)
	}
	return ks, nil
}
