// Package app wires auth-service together: configuration, logging,
// PostgreSQL, the outbox relay to RabbitMQ and the HTTP API, and runs them
// until the context ends.
package app

import (
	"context"
	"net"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/auth-service/internal/config"
	"github.com/parleychat/parley/auth-service/internal/httpapi"
	"github.com/parleychat/parley/auth-service/internal/password"
	"github.com/parleychat/parley/auth-service/internal/postgres"
	"github.com/parleychat/parley/auth-service/internal/sessiontoken"
	"github.com/parleychat/parley/auth-service/migrations"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/metrics"
	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/shared/pgdb"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/token"
)

// Run serves until ctx ends, then shuts down in order: the HTTP server
// drains, then the relay and the pruner stop. ready, if not nil, receives
// the public HTTP address once both it and the ops address listen.
func Run(ctx context.Context, cfg config.Config, version string, ready func(net.Addr)) error {
	logs, err := logging.New(logging.Config{Service: auth.ServiceName, Version: version, Level: cfg.Level(), ElasticsearchURL: cfg.ElasticsearchURL, RetentionDays: cfg.LogRetentionDays})
	if err != nil {
		return err
	}
	log := logs.Logger
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = logs.Close(fctx)
	}()

	signingKey, err := cfg.SigningKey()
	if err != nil {
		return err
	}
	signer, err := token.NewSigner(signingKey, token.IssuerAuth)
	if err != nil {
		return err
	}
	internalKeys, err := cfg.InternalKeys()
	if err != nil {
		return err
	}
	// The gateway hands one internal token out again for a few seconds per
	// user and session: the cache (exact string, time bounds re-checked on
	// every hit) saves the repeated Ed25519 checks (token.WithCache).
	verifier, err := token.NewVerifier(internalKeys, token.IssuerGateway, token.AudienceAuth, token.WithCache(8192))
	if err != nil {
		return err
	}
	hasher, err := password.NewHasher(password.OWASP, cfg.HashConcurrency)
	if err != nil {
		return err
	}

	pool, err := pgdb.Open(ctx, cfg.DatabaseURL, migrations.FS)
	if err != nil {
		return err
	}
	defer pool.Close()
	amqp, err := rabbit.Dial(ctx, cfg.AMQPURL, log, rabbit.WithName(auth.ServiceName))
	if err != nil {
		return err
	}
	defer amqp.Close()
	if err := amqp.DeclareExchanges(ctx, events.ExchangeAuth); err != nil {
		return err
	}

	store, limiter := postgres.New(pool), postgres.NewLimiter(pool)
	svc, err := auth.NewService(store, limiter, hasher, sessiontoken.New(signer), serviceConfig(cfg))
	if err != nil {
		return err
	}

	// Background work stops when the server has drained.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() { stopBG(); wg.Wait() }()
	relay := outbox.NewRelay(pool, amqp.Publisher(), log, outbox.RelayOptions{})
	wg.Go(func() { relay.Run(bg) })
	wg.Go(func() { prune(bg, store, limiter, max(cfg.LoginFailureWindow, cfg.SignupWindow), log) })

	health := &httpserver.Health{
		Service: auth.ServiceName, Version: version, Shipper: logs.Shipper,
		Checks: map[string]httpserver.Check{"postgres": pool.Ping, "rabbitmq": amqp.Check},
	}
	reg := httpserver.NewRegistry()
	metrics.RegisterPool(reg, pool)
	metrics.RegisterOutbox(reg, pool)
	metrics.RegisterShipper(reg, logs.Shipper)
	if err := metrics.Report(bg, &wg, metrics.ReporterConfig{ElasticsearchURL: cfg.ElasticsearchURL, RetentionDays: cfg.LogRetentionDays, Service: auth.ServiceName, Version: version, Instance: cfg.OpsAddr}, reg); err != nil {
		return err
	}
	router := httpapi.NewRouter(httpapi.Deps{Service: svc, Verifier: verifier, Logger: log, Health: health, Metrics: reg})
	log.Info().Str("addr", cfg.HTTPAddr).Str("ops.addr", cfg.OpsAddr).Str("session.kid", signer.KeyID()).
		Strs("internal.kids", internalKeys.KeyIDs()).Msg("auth-service starting")
	err = httpserver.RunWithOps(ctx, cfg.HTTPAddr, router, cfg.OpsAddr, health.OpsHandler(reg),
		cfg.ShutdownTimeout, func(public, _ net.Addr) {
			if ready != nil {
				ready(public)
			}
		})
	log.Info().Err(err).Msg("auth-service stopped")
	return err
}

// serviceConfig maps the environment's settings onto the use cases'.
func serviceConfig(c config.Config) auth.Config {
	s := auth.DefaultConfig()
	s.AccessTTL, s.RefreshTTL, s.ReuseGrace, s.Leeway = c.AccessTokenTTL, c.RefreshTokenTTL, c.RefreshReuseGrace, token.DefaultLeeway
	s.FailureWindow = c.LoginFailureWindow
	s.AccountClientFailures, s.AccountFailures = c.LoginFailuresPerAccountIP, c.LoginFailuresPerAccount
	s.IPFailures, s.SignupConflicts = c.LoginFailuresPerIP, c.SignupConflictsPerIP
	s.MaxSessions, s.SignupsPerIP, s.SignupWindow = c.MaxSessionsPerAccount, c.SignupsPerIP, c.SignupWindow
	return s
}

// prune deletes, once a minute, throttle records no window reaches any
// more, and sessions that ended over a day ago (with their refresh
// tokens), so both tables stay bounded.
func prune(ctx context.Context, store *postgres.Store, l *postgres.Limiter, window time.Duration, log zerolog.Logger) {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if _, err := l.Prune(ctx, now.Add(-window)); err != nil && ctx.Err() == nil {
				logging.ErrorFields(log.Warn(), err).Msg("pruning throttle records failed")
			}
			if _, err := store.PruneSessions(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
				logging.ErrorFields(log.Warn(), err).Msg("pruning ended sessions failed")
			}
		}
	}
}
