// Package config loads chat-service's configuration from the environment
// once, at start-up.
package config

import (
	"errors"
	"fmt"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/envconfig"
)

// Config is every setting chat-service reads.
type Config struct {
	HTTPAddr           string        `env:"HTTP_ADDR" envDefault:"127.0.0.1:8083"`
	DatabaseURL        string        `env:"DATABASE_URL,required"`
	AMQPURL            string        `env:"AMQP_URL,required"`
	ElasticsearchURL   string        `env:"ELASTICSEARCH_URL"`
	LogLevel           string        `env:"LOG_LEVEL" envDefault:"info"`
	InternalPublicKeys string        `env:"INTERNAL_PUBLIC_KEYS,required"`
	ShutdownTimeout    time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`

	// MessageRate and MessageBurst are the per-user flood control on
	// message changes (per instance); 0 disables it.
	MessageRate  float64 `env:"MESSAGE_RATE" envDefault:"10"`
	MessageBurst int     `env:"MESSAGE_BURST" envDefault:"20"`
	// SyncEventCap is the most events one sync returns per conversation.
	SyncEventCap int `env:"SYNC_EVENT_CAP" envDefault:"500"`
	// EventRetention is how long the change log keeps events; clients
	// offline longer get a gap and refetch.
	EventRetention time.Duration `env:"EVENT_RETENTION" envDefault:"720h"`
	// PresenceSweepInterval is how often expired gateway sessions are
	// looked for; a crashed gateway's users go offline within its TTL plus
	// this.
	PresenceSweepInterval time.Duration `env:"PRESENCE_SWEEP_INTERVAL" envDefault:"5s"`
	// ConsumerName prefixes the durable queues (<name>.user-directory,
	// <name>.presence). Change it only to isolate a test run.
	ConsumerName string `env:"AMQP_CONSUMER_NAME" envDefault:"chat-service"`
	// LinkWorkers is how many Socket.IO link commands run at once.
	LinkWorkers int `env:"LINK_WORKERS" envDefault:"32"`
}

// Load reads and validates the configuration.
func Load() (Config, error) {
	var c Config
	err := envconfig.Load(&c)
	return c, err
}

// Level is the parsed LOG_LEVEL.
func (c Config) Level() zerolog.Level {
	l, _ := zerolog.ParseLevel(c.LogLevel)
	return l
}

// Validate checks ranges the struct tags cannot express.
func (c *Config) Validate() error {
	var errs []error
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil || c.LogLevel == "" {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %q is not a level (trace, debug, info, warn, error)", c.LogLevel))
	}
	if c.ShutdownTimeout <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT: must be positive"))
	}
	if c.MessageRate < 0 || c.MessageBurst < 0 || (c.MessageRate > 0 && c.MessageBurst < 1) {
		errs = append(errs, errors.New("MESSAGE_RATE/MESSAGE_BURST: must not be negative, and the burst at least 1 when limiting"))
	}
	if c.SyncEventCap < 1 {
		errs = append(errs, errors.New("SYNC_EVENT_CAP: must be at least 1"))
	}
	if c.EventRetention < time.Hour {
		errs = append(errs, errors.New("EVENT_RETENTION: must be at least 1h"))
	}
	if c.PresenceSweepInterval < 100*time.Millisecond {
		errs = append(errs, errors.New("PRESENCE_SWEEP_INTERVAL: must be at least 100ms"))
	}
	if c.LinkWorkers < 1 {
		errs = append(errs, errors.New("LINK_WORKERS: must be at least 1"))
	}
	return errors.Join(errs...)
}
