// Package logging sets up Parley's structured logs: one JSON line per event in
// Elastic Common Schema field names, written to stdout and shipped to
// Elasticsearch through a bounded, non-blocking queue.
package logging

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/rs/zerolog"
	"go.elastic.co/ecszerolog"
)

// Config says who is logging and where records go.
type Config struct {
	Service string        // service.name
	Version string        // service.version
	Level   zerolog.Level // minimum level written
	// ElasticsearchURL, when set, enables shipping to Elasticsearch.
	ElasticsearchURL string
	// QueueSize bounds how many records wait while Elasticsearch is slow or
	// down; beyond it records are dropped and counted. Default DefaultQueueSize.
	QueueSize int
	// RetentionDays: daily log indices older than this are deleted.
	// Default DefaultRetentionDays.
	RetentionDays int
	// FlushInterval is how often shipped records are committed. Default 1s.
	FlushInterval time.Duration
	// Stdout receives every record as well; default os.Stdout.
	Stdout io.Writer
}

// Logging is a configured logger with its Elasticsearch shipper.
type Logging struct {
	Logger  zerolog.Logger
	Shipper *Shipper // nil when shipping is disabled
}

// New builds the logger described by cfg. Shipping starts in the background;
// an unreachable Elasticsearch never fails start-up.
func New(cfg Config) (*Logging, error) {
	if cfg.Service == "" {
		return nil, errors.New("logging: service name is required")
	}
	out := cfg.Stdout
	if out == nil {
		out = os.Stdout
	}
	var shipper *Shipper
	if cfg.ElasticsearchURL != "" {
		var err error
		shipper, err = NewShipper(ShipperConfig{
			URL:           cfg.ElasticsearchURL,
			Service:       cfg.Service,
			QueueSize:     cfg.QueueSize,
			FlushInterval: cfg.FlushInterval,
			RetentionDays: cfg.RetentionDays,
		})
		if err != nil {
			return nil, fmt.Errorf("logging: %w", err)
		}
		out = zerolog.MultiLevelWriter(out, shipper)
	}
	zerolog.TimeFieldFormat = time.RFC3339Nano
	zerolog.DurationFieldInteger = true
	zerolog.DurationFieldUnit = time.Nanosecond // ECS event.duration is in nanoseconds
	zerolog.ErrorStackFieldName = "error.stack_trace"
	l := ecszerolog.New(uniqueKeys{next: out}, ecszerolog.Level(cfg.Level)).With().
		Str("service.name", cfg.Service).
		Str("service.version", cfg.Version).
		Logger()
	return &Logging{Logger: l, Shipper: shipper}, nil
}

// Close flushes what is queued to Elasticsearch, waiting at most until ctx ends.
func (l *Logging) Close(ctx context.Context) error {
	if l.Shipper == nil {
		return nil
	}
	return l.Shipper.Close(ctx)
}

// ErrorFields adds ECS error.* fields for err to e.
func ErrorFields(e *zerolog.Event, err error) *zerolog.Event {
	if err == nil {
		return e
	}
	root := err
	for {
		next := errors.Unwrap(root)
		if next == nil {
			break
		}
		root = next
	}
	return e.Str("error.type", fmt.Sprintf("%T", root)).Str("error.message", err.Error())
}
