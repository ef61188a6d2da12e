// Package app is the gateway's composition root: configuration, keys,
// logging, the revocation list and its sources, the proxy, the public router,
// Socket.IO and the internal ops address. cmd/gateway loads the
// configuration and calls Run; component tests do the same.
package app

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/gateway/internal/config"
	"github.com/parleychat/parley/gateway/internal/rabbitmq"
	"github.com/parleychat/parley/gateway/internal/realtime"
	"github.com/parleychat/parley/gateway/internal/revocation"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/metrics"
	"github.com/parleychat/parley/shared/rabbit"
)

// Service is the gateway's service.name, also its event source and the
// name of its RabbitMQ consumer.
const Service = "gateway"

// App is one gateway instance.
type App struct {
	cfg     config.Config
	version string
	logs    *logging.Logging
	log     zerolog.Logger

	store   *revocation.Store
	minter  *session.Minter
	loader  *revocation.Loader
	amqp    *rabbit.Conn
	handler http.Handler
	// ops serves the internal ops address (full readiness, metrics, pprof).
	ops http.Handler
	// opsAddr is the bound ops address once it listens (tests bind :0).
	opsAddr atomic.Pointer[net.TCPAddr]

	// reg holds the gateway's Prometheus metrics, served on the ops address.
	reg      *prometheus.Registry
	link     *realtime.Link
	realtime *realtime.Server
	// refreshes queues session refreshes to signal to the other gateways.
	refreshes chan session.Identity
}

// Run builds the gateway described by cfg and serves until ctx ends, then
// drains: the HTTP servers first (bounded by SHUTDOWN_TIMEOUT), then the
// background work, then RabbitMQ and logs. ready, if not nil, receives the
// bound public address.
func Run(ctx context.Context, cfg config.Config, version string, ready func(net.Addr)) error {
	a, err := newApp(ctx, cfg, version)
	if err != nil {
		return err
	}
	return a.run(ctx, ready)
}

func (a *App) run(ctx context.Context, ready func(net.Addr)) error {
	defer a.close()
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() { stopBG(); wg.Wait() }()

	consumer, err := rabbitmq.NewConsumer(a.amqp, Service, a.cfg.DeliveryQueueExpiry, a.store, a.realtime)
	if err != nil {
		return err
	}
	wg.Go(func() {
		if err := consumer.Run(bg); err != nil {
			logging.ErrorFields(a.log.Error(), err).Msg("event consumer stopped")
		}
	})
	wg.Go(func() { a.link.Run(bg) })
	wg.Go(func() { a.realtime.RunPresence(bg, a.amqp.Publisher(), a.cfg.GatewayID, a.cfg.PresenceHeartbeat) })
	wg.Go(func() { a.publishRefreshes(bg, a.amqp.Publisher()) })
	// Sockets are closed as soon as shutdown starts (long-polling requests
	// would otherwise hold the HTTP drain for a whole ping interval), once
	// the commands in flight have their acks: meanwhile new commands are
	// refused retryably and the listener takes no new handshake, so clients
	// reconnect to another instance and resend there.
	socketsClosed := make(chan struct{})
	wg.Go(func() {
		defer close(socketsClosed)
		select {
		case <-ctx.Done():
			a.realtime.Drain(min(a.cfg.CommandTimeout, a.cfg.ShutdownTimeout))
		case <-bg.Done():
		}
		a.realtime.Close()
	})
	wg.Go(func() {
		if err := a.loader.Sync(bg, a.store); err != nil {
			return // stopping
		}
		a.loader.Refresh(bg, a.store, a.cfg.RevocationResync)
	})
	wg.Go(func() { a.store.RunPruner(bg, time.Minute) })
	if err := metrics.Report(bg, &wg, metrics.ReporterConfig{ElasticsearchURL: a.cfg.ElasticsearchURL, RetentionDays: a.cfg.LogRetentionDays, Service: Service,
		Version: a.version, Instance: a.cfg.GatewayID}, a.reg); err != nil {
		return err
	}

	// The ops listener runs beside the public one; when it cannot listen
	// (address taken) the gateway stops with that error rather than run
	// without its probes and metrics.
	serveCtx, stopServe := context.WithCancelCause(ctx)
	defer stopServe(nil)
	opsDone := make(chan error, 1)
	go func() {
		err := httpserver.Run(serveCtx, a.cfg.OpsAddr, a.ops, a.cfg.ShutdownTimeout, func(addr net.Addr) {
			if tcp, ok := addr.(*net.TCPAddr); ok {
				a.opsAddr.Store(tcp)
			}
			a.log.Info().Str("addr", addr.String()).Msg("ops address listening")
		})
		if err != nil {
			stopServe(err)
		}
		opsDone <- err
	}()

	a.log.Info().Str("addr", a.cfg.HTTPAddr).Bool("tls", a.cfg.TLS()).Msg("gateway starting")
	err = serve(serveCtx, a.cfg, a.handler, ready)
	stopServe(nil)
	if ctx.Err() != nil {
		// The link to chat-service stays up until the drain is over.
		<-socketsClosed
	}
	if opsErr := <-opsDone; err == nil || errors.Is(err, context.Canceled) {
		err = opsErr
	}
	a.log.Info().Err(err).Msg("gateway stopped")
	return err
}

// close releases what newApp acquired; safe to call on a partial App.
func (a *App) close() {
	if a.amqp != nil {
		_ = a.amqp.Close()
	}
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.logs.Close(fctx)
}
