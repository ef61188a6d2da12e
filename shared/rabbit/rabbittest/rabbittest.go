// Package rabbittest connects tests to the real RabbitMQ named by AMQP_URL
// (written by scripts/infra) and fails them clearly without one.
package rabbittest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/rabbit"
)

// URL returns AMQP_URL, failing the test when it is not set.
func URL(t testing.TB) string {
	t.Helper()
	u := os.Getenv("AMQP_URL")
	if u == "" {
		t.Fatal("AMQP_URL is not set: these tests need a real RabbitMQ (scripts/infra up; set -a; . .local/env; set +a)")
	}
	return u
}

// Dial opens a rabbit.Conn named name, closed when the test ends; logs go to
// the test's output at warn level and above.
func Dial(t testing.TB, name string, opts ...rabbit.Option) *rabbit.Conn {
	t.Helper()
	return DialWith(t, zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel), name, opts...)
}

// DialWith is Dial with a logger of the test's choosing.
func DialWith(t testing.TB, logger zerolog.Logger, name string, opts ...rabbit.Option) *rabbit.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	opts = append([]rabbit.Option{rabbit.WithName(name)}, opts...)
	c, err := rabbit.Dial(ctx, URL(t), logger, opts...)
	if err != nil {
		t.Fatalf("dial RabbitMQ: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
