// Package app wires user-service together: configuration, logging,
// PostgreSQL, RabbitMQ (profiles consumer and outbox relay) and the HTTP
// API, and runs them until the context ends.
package app

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/metrics"
	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/shared/pgdb"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/user-service/internal/config"
	"github.com/parleychat/parley/user-service/internal/httpapi"
	"github.com/parleychat/parley/user-service/internal/postgres"
	"github.com/parleychat/parley/user-service/internal/rabbitmq"
	"github.com/parleychat/parley/user-service/internal/users"
	"github.com/parleychat/parley/user-service/migrations"
)

// Run serves until ctx ends, then shuts down in order: the HTTP server
// drains, the consumer finishes the events in flight, the relay stops.
// ready, if not nil, receives the public HTTP address once both it and the
// ops address listen.
func Run(ctx context.Context, cfg config.Config, version string, ready func(net.Addr)) error {
	logs, err := logging.New(logging.Config{Service: users.ServiceName, Version: version, Level: cfg.Level(), ElasticsearchURL: cfg.ElasticsearchURL, RetentionDays: cfg.LogRetentionDays})
	if err != nil {
		return err
	}
	log := logs.Logger
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = logs.Close(fctx)
	}()

	keys, err := cfg.InternalKeys()
	if err != nil {
		return err
	}
	// The gateway hands one internal token out again for a few seconds per
	// user and session: the cache (exact string, time bounds re-checked on
	// every hit) saves the repeated Ed25519 checks (token.WithCache).
	verifier, err := token.NewVerifier(keys, token.IssuerGateway, token.AudienceUsers, token.WithCache(8192))
	if err != nil {
		return err
	}
	pool, err := pgdb.Open(ctx, cfg.DatabaseURL, migrations.FS)
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := rabbit.Dial(ctx, cfg.AMQPURL, log, rabbit.WithName(users.ServiceName))
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.DeclareExchanges(ctx, events.ExchangeUsers); err != nil {
		return err
	}

	store := postgres.New(pool)
	svc := users.NewService(store)
	consumer, err := rabbitmq.NewProfilesConsumer(ctx, conn, svc, rabbit.ConsumerConfig{
		Consumer: cfg.ConsumerName, Prefetch: cfg.ConsumerPrefetch, Concurrency: cfg.ConsumerConcurrency,
		MaxAttempts: cfg.ConsumerMaxAttempts, RetryDelay: cfg.ConsumerRetryDelay,
	})
	if err != nil {
		return err
	}

	var wg sync.WaitGroup
	// The consumer stops with ctx (draining what it holds); the relay keeps
	// publishing until the HTTP server has drained, so the last updates go
	// out before exit.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	defer func() { stopBG(); wg.Wait() }()
	wg.Go(func() { _ = consumer.Run(ctx) })
	relay := outbox.NewRelay(pool, conn.Publisher(), log, outbox.RelayOptions{Retention: cfg.OutboxRetention})
	wg.Go(func() { relay.Run(bg) })
	wg.Go(func() { pruneProcessed(bg, store, cfg.ProcessedRetention, log) })

	health := &httpserver.Health{
		Service: users.ServiceName, Version: version, Shipper: logs.Shipper,
		Checks: map[string]httpserver.Check{"postgres": pool.Ping, "rabbitmq": conn.Check},
	}
	reg := httpserver.NewRegistry()
	metrics.RegisterPool(reg, pool)
	metrics.RegisterOutbox(reg, pool)
	metrics.RegisterShipper(reg, logs.Shipper)
	metrics.RegisterConsumer(reg, consumer)
	if err := metrics.Report(bg, &wg, metrics.ReporterConfig{ElasticsearchURL: cfg.ElasticsearchURL, RetentionDays: cfg.LogRetentionDays, Service: users.ServiceName, Version: version, Instance: cfg.OpsAddr}, reg); err != nil {
		return err
	}
	router := httpapi.NewRouter(httpapi.Deps{Service: svc, Verifier: verifier, Logger: log, Health: health, Metrics: reg})
	log.Info().Str("addr", cfg.HTTPAddr).Str("ops.addr", cfg.OpsAddr).Str("queue", consumer.Queue()).
		Strs("internal.kids", keys.KeyIDs()).Msg("user-service starting")
	err = httpserver.RunWithOps(ctx, cfg.HTTPAddr, router, cfg.OpsAddr, health.OpsHandler(reg),
		cfg.ShutdownTimeout, func(public, _ net.Addr) {
			if ready != nil {
				ready(public)
			}
		})
	stopBG()
	wg.Wait()
	cs, rs := consumer.Stats(), relay.Stats()
	log.Info().Err(err).Uint64("consumer.handled", cs.Handled).Uint64("consumer.retried", cs.Retried).
		Uint64("consumer.dead_lettered", cs.DeadLettered).Uint64("outbox.published", rs.Published).
		Msg("user-service stopped")
	return err
}

// pruneProcessed forgets old consumed event ids once an hour.
func pruneProcessed(ctx context.Context, store *postgres.Store, retention time.Duration, log zerolog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if _, err := store.PruneProcessed(ctx, retention); err != nil && ctx.Err() == nil {
				logging.ErrorFields(log.Warn(), err).Msg("pruning processed events failed")
			}
		}
	}
}
