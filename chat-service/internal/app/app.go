// Package app wires chat-service together: it opens PostgreSQL and
// RabbitMQ, builds the use cases and transports, runs the background loops
// and shuts everything down in order.
package app

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/config"
	"github.com/parleychat/parley/chat-service/internal/httpapi"
	"github.com/parleychat/parley/chat-service/internal/postgres"
	"github.com/parleychat/parley/chat-service/internal/rabbitmq"
	"github.com/parleychat/parley/chat-service/internal/socketio"
	"github.com/parleychat/parley/chat-service/migrations"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/metrics"
	"github.com/parleychat/parley/shared/outbox"
	"github.com/parleychat/parley/shared/pgdb"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/token"
)

// Run serves until ctx ends, then shuts down gracefully. ready, if set,
// receives the HTTP address once listening.
func Run(ctx context.Context, cfg config.Config, version string, ready func(net.Addr)) error {
	lg, err := logging.New(logging.Config{Service: chat.ServiceName, Version: version, Level: cfg.Level(), ElasticsearchURL: cfg.ElasticsearchURL, RetentionDays: cfg.LogRetentionDays})
	if err != nil {
		return err
	}
	defer func() {
		fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = lg.Close(fctx)
	}()
	log := lg.Logger
	if err := run(ctx, cfg, version, lg, ready); err != nil {
		logging.ErrorFields(log.Error(), err).Msg(chat.ServiceName + " stopped with an error")
		return err
	}
	log.Info().Msg(chat.ServiceName + " stopped")
	return nil
}

func run(ctx context.Context, cfg config.Config, version string, lg *logging.Logging, ready func(net.Addr)) error {
	log := lg.Logger
	keys, err := token.ParseKeyList(cfg.InternalPublicKeys)
	if err != nil {
		return fmt.Errorf("INTERNAL_PUBLIC_KEYS: %w", err)
	}
	// Every link command carries an internal token, and the gateway mints
	// the same string for one user within a second: the cache (exact
	// string, until exp) saves most Ed25519 checks (token.WithCache).
	verifier, err := token.NewVerifier(keys, token.IssuerGateway, token.AudienceChat, token.WithCache(8192))
	if err != nil {
		return err
	}
	pool, err := pgdb.Open(ctx, cfg.DatabaseURL, migrations.FS())
	if err != nil {
		return err
	}
	defer pool.Close()
	conn, err := rabbit.Dial(ctx, cfg.AMQPURL, log, rabbit.WithName(chat.ServiceName))
	if err != nil {
		return err
	}
	defer conn.Close()
	if err := conn.DeclareExchanges(ctx, events.ExchangeChat, events.ExchangeRealtime); err != nil {
		return fmt.Errorf("declare exchanges: %w", err)
	}

	store := postgres.NewStore(pool)
	realtime := rabbitmq.NewRealtime(conn.Publisher())
	svc := chat.NewService(store, realtime, chat.Config{
		MessageRate: cfg.MessageRate, MessageBurst: cfg.MessageBurst,
		TypingRate: chat.DefaultConfig.TypingRate, TypingBurst: chat.DefaultConfig.TypingBurst,
		SyncEventCap: cfg.SyncEventCap, UnknownUserWait: chat.DefaultConfig.UnknownUserWait,
		SendLatencyTarget: sendLatencyTarget(cfg.SendLatencyTarget),
	})
	presence := chat.NewPresence(store, realtime)
	consumers, err := rabbitmq.NewConsumers(ctx, conn, cfg.ConsumerName, store, presence)
	if err != nil {
		return err
	}
	registry := httpserver.NewRegistry()
	metrics.RegisterPool(registry, pool)
	metrics.RegisterOutbox(registry, pool)
	metrics.RegisterShipper(registry, lg.Shipper)
	for _, c := range consumers.All() {
		metrics.RegisterConsumer(registry, c)
	}
	link := socketio.New(socketio.Config{Service: svc, Verifier: verifier, Logger: log, Workers: cfg.LinkWorkers, PerUser: cfg.LinkUserCommands, Metrics: registry})
	health := &httpserver.Health{
		Service: chat.ServiceName, Version: version, Shipper: lg.Shipper,
		Checks: map[string]httpserver.Check{"postgres": pool.Ping, "rabbitmq": conn.Check},
	}
	router := httpapi.NewRouter(httpapi.Config{Service: svc, Verifier: verifier, Logger: log, Health: health, Metrics: registry})

	// Background work stops when bg is cancelled, after the HTTP server and
	// the link have drained, so commands in flight still get their events
	// relayed.
	bg, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	defer stopBackground()
	var wg sync.WaitGroup
	relay := outbox.NewRelay(pool, conn.Publisher(), log, outbox.RelayOptions{})
	wg.Go(func() { relay.Run(bg) })
	wg.Go(func() { consumers.Run(bg) })
	wg.Go(func() { sweep(bg, log, cfg, presence, store) })
	if err := metrics.Report(bg, &wg, metrics.ReporterConfig{ElasticsearchURL: cfg.ElasticsearchURL, RetentionDays: cfg.LogRetentionDays, Service: chat.ServiceName,
		Version: version, Instance: cfg.OpsAddr}, registry); err != nil {
		return err
	}

	log.Info().Str("http.addr", cfg.HTTPAddr).Str("ops.addr", cfg.OpsAddr).Strs("internal_kids", keys.KeyIDs()).Msg("chat-service starting")
	// The ops address (full readiness, metrics, pprof) serves beside the
	// public one and stops with it; if it cannot serve, neither does the
	// public one.
	serveCtx, stopServing := context.WithCancel(ctx)
	defer stopServing()
	var opsErr error
	opsDone := make(chan struct{})
	go func() {
		defer close(opsDone)
		if err := httpserver.Run(serveCtx, cfg.OpsAddr, health.OpsHandler(registry), cfg.ShutdownTimeout, nil); err != nil {
			opsErr = fmt.Errorf("ops address: %w", err)
			stopServing()
		}
	}()
	serveErr := httpserver.Run(serveCtx, cfg.HTTPAddr, handler(router, link), cfg.ShutdownTimeout, ready)
	stopServing()
	<-opsDone
	serveErr = errors.Join(serveErr, opsErr)
	lctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	link.Close(lctx)
	cancel()
	stopBackground()
	wg.Wait()
	return serveErr
}

// handler sends the Socket.IO path to the link server and everything else
// to the REST router.
func handler(api http.Handler, link *socketio.Server) http.Handler {
	sio := link.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, socketio.Path) {
			sio.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// sweep expires presence of crashed gateways and prunes the change log.
func sweep(ctx context.Context, log zerolog.Logger, cfg config.Config, presence *chat.Presence, store *postgres.Store) {
	tick := time.NewTicker(cfg.PresenceSweepInterval)
	defer tick.Stop()
	var lastPrune time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		if err := presence.Sweep(ctx); err != nil && ctx.Err() == nil {
			logging.ErrorFields(log.Warn(), err).Msg("presence sweep failed")
		}
		if time.Since(lastPrune) > time.Hour {
			lastPrune = time.Now()
			prune(ctx, log, store, time.Now().Add(-cfg.EventRetention))
			// Duplicates arrive within minutes (retries) or hours (a
			// restored backlog); a week of event ids is plenty.
			if _, err := store.PruneProcessed(ctx, 7*24*time.Hour); err != nil && ctx.Err() == nil {
				logging.ErrorFields(log.Warn(), err).Msg("processed-events pruning failed")
			}
		}
	}
}

// prune deletes change-log events older than cutoff, in batches so that no
// transaction holds many rows.
func prune(ctx context.Context, log zerolog.Logger, store *postgres.Store, cutoff time.Time) {
	const batch = 5000
	var total int64
	for ctx.Err() == nil {
		n, err := store.PruneEvents(ctx, cutoff, batch)
		if err != nil {
			if !errors.Is(err, context.Canceled) {
				logging.ErrorFields(log.Warn(), err).Msg("change-log pruning failed")
			}
			return
		}
		total += n
		if n < batch {
			break
		}
	}
	if total > 0 {
		log.Info().Int64("pruned", total).Time("cutoff", cutoff).Msg("pruned the change log")
	}
}

// sendLatencyTarget maps SEND_LATENCY_TARGET to chat.Config's: 0 there means the
// default, so "off" (0 in the environment) is passed as negative.
func sendLatencyTarget(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}
