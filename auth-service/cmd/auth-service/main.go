// Command auth-service runs Parley's account and session service: signup,
// login, refresh-token rotation, logout, password change and session
// management, publishing its events through a transactional outbox.
package main

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
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
	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/shared/pgdb"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/token"
)

const service = "auth-service"

// version is overridden at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, nil, nil); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", service, err)
		os.Exit(1)
	}
}

// run serves until ctx ends. environ replaces the process environment when
// not nil, and ready receives the bound address: both for tests.
func run(ctx context.Context, environ map[string]string, ready func(net.Addr)) error {
	cfg, err := config.Load(environ)
	if err != nil {
		return err
	}
	logs, err := logging.New(logging.Config{Service: service, Version: version, Level: cfg.Level(), ElasticsearchURL: cfg.ElasticsearchURL})
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
	verifier, err := token.NewVerifier(internalKeys, token.IssuerGateway, token.AudienceAuth)
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
	amqp, err := rabbit.Dial(ctx, cfg.AMQPURL, log, rabbit.WithName(service))
	if err != nil {
		return err
	}
	defer amqp.Close()
	if err := amqp.DeclareExchanges(ctx, events.ExchangeAuth); err != nil {
		return err
	}

	store, limiter := postgres.New(pool), postgres.NewLimiter(pool)
	svc, err := auth.NewService(store, limiter, hasher, sessiontoken.New(signer), auth.Config{
		AccessTTL: cfg.AccessTokenTTL, RefreshTTL: cfg.RefreshTokenTTL, ReuseGrace: cfg.RefreshReuseGrace,
		Leeway: token.DefaultLeeway, FailureWindow: cfg.LoginFailureWindow,
		AccountFailures: cfg.LoginFailuresPerAccount, IPFailures: cfg.LoginFailuresPerIP,
		SignupConflicts: cfg.SignupConflictsPerIP,
	})
	if err != nil {
		return err
	}

	// Background work stops when the server has drained.
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() { stopBG(); wg.Wait() }()
	relay := outbox.NewRelay(pool, amqp.Publisher(), log, outbox.RelayOptions{})
	wg.Go(func() { relay.Run(bg) })
	wg.Go(func() { prune(bg, store, limiter, cfg.LoginFailureWindow, log) })

	router := httpapi.NewRouter(httpapi.Deps{
		Service: svc, Verifier: verifier, Logger: log,
		Health: &httpserver.Health{
			Service: service, Version: version, Shipper: logs.Shipper,
			Checks: map[string]httpserver.Check{"postgres": pool.Ping, "rabbitmq": amqp.Check},
		},
	})
	log.Info().Str("addr", cfg.HTTPAddr).Str("session.kid", signer.KeyID()).
		Strs("internal.kids", internalKeys.KeyIDs()).Msg("auth-service starting")
	err = httpserver.Run(ctx, cfg.HTTPAddr, router, cfg.ShutdownTimeout, ready)
	log.Info().Err(err).Msg("auth-service stopped")
	return err
}

// prune deletes, once a minute, login failures no throttle window reaches
// any more, and sessions that ended over a day ago (with their refresh
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
				logging.ErrorFields(log.Warn(), err).Msg("pruning login failures failed")
			}
			if _, err := store.PruneSessions(ctx, now.Add(-24*time.Hour)); err != nil && ctx.Err() == nil {
				logging.ErrorFields(log.Warn(), err).Msg("pruning ended sessions failed")
			}
		}
	}
}
