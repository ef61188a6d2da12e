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
	HTTPAddr string `env:"HTTP_ADDR" envDefault:"127.0.0.1:8083"`
	// OpsAddr is the internal operations listener: full readiness with
	// every dependency's status, Prometheus metrics and pprof. Never the
	// public address.
	OpsAddr          string `env:"OPS_ADDR" envDefault:"127.0.0.1:9083"`
	DatabaseURL      string `env:"DATABASE_URL,required"`
	AMQPURL          string `env:"AMQP_URL,required"`
	ElasticsearchURL string `env:"ELASTICSEARCH_URL"`
	// LogRetentionDays: daily log and metric indices older than this many
	// days are deleted from Elasticsearch.
	LogRetentionDays   int           `env:"LOG_RETENTION_DAYS" envDefault:"14"`
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
	// <name>.presence). Change it only to isolate a test run. The former
	// name AMQP_CONSUMER_NAME is still read when CONSUMER_NAME is unset.
	ConsumerName string `env:"CONSUMER_NAME" envDefault:"chat-service"`
	// LinkWorkers is how many Socket.IO link commands run at once. A send
	// holds its worker while its batch commits, and a batch can only be as
	// large as the sends waiting at once, so group commit needs many
	// workers: with W workers and a commit latency L the link carries at
	// most W/L commands a second, and users sharing a worker wait for each
	// other. A worker is an idle goroutine until it has work; the database
	// work itself is bounded by the group's runners and SEND_LATENCY_TARGET.
	LinkWorkers int `env:"LINK_WORKERS" envDefault:"1024"`
	// LinkUserCommands is how many of one user's link commands may wait or
	// run at once; past it that user alone is answered 429.
	LinkUserCommands int `env:"LINK_USER_COMMANDS" envDefault:"16"`
	// SendLatencyTarget is the latency (queue wait and commit) the
	// admission control in front of the database keeps message sends
	// under: the number of sends admitted at once adapts to it, and sends
	// over that number are refused at once with 503 overloaded and a retry
	// hint. 0 turns the adaptive limit off (only the queue's length bounds
	// sends).
	SendLatencyTarget time.Duration `env:"SEND_LATENCY_TARGET" envDefault:"100ms"`
}

// Load reads the configuration through getenv (os.Getenv in main, a map
// lookup in tests) and validates it.
func Load(getenv func(string) string) (Config, error) {
	var c Config
	if err := envconfig.LoadWith(&c, withDeprecated(getenv)); err != nil {
		return Config{}, err
	}
	return c, nil
}

// deprecated maps a variable to the older name still read in its place.
var deprecated = map[string]string{"CONSUMER_NAME": "AMQP_CONSUMER_NAME"}

// withDeprecated answers a variable from its older name when it is unset.
func withDeprecated(getenv func(string) string) func(string) string {
	return func(key string) string {
		if v := getenv(key); v != "" {
			return v
		}
		if old, ok := deprecated[key]; ok {
			return getenv(old)
		}
		return ""
	}
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
	if c.SendLatencyTarget < 0 {
		errs = append(errs, errors.New("SEND_LATENCY_TARGET: must not be negative"))
	}
	if c.LinkWorkers < 1 {
		errs = append(errs, errors.New("LINK_WORKERS: must be at least 1"))
	}
	if c.LinkUserCommands < 1 {
		errs = append(errs, errors.New("LINK_USER_COMMANDS: must be at least 1"))
	}
	if c.ConsumerName == "" {
		errs = append(errs, errors.New("CONSUMER_NAME: must not be empty"))
	}
	if err := envconfig.CheckOpsAddr(c.OpsAddr, c.HTTPAddr); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}
