// Package app wires the gateway together: configuration, keys, logging, the
// revocation list and its sources, the proxy and the public router.
// cmd/gateway only builds an App and runs it; component tests do the same.
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

	"github.com/parleychat/parley/gateway/api"
	"github.com/parleychat/parley/gateway/internal/config"
	"github.com/parleychat/parley/gateway/internal/httpapi"
	"github.com/parleychat/parley/gateway/internal/proxy"
	"github.com/parleychat/parley/gateway/internal/realtime"
	"github.com/parleychat/parley/gateway/internal/revocation"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/token"
)

// Service is the gateway's service.name.
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

	link     *realtime.Link
	realtime *realtime.Server
}

// New builds the gateway described by cfg. It dials RabbitMQ (retrying
// until ctx ends), so the revocation consumer can start before anything
// else.
func New(ctx context.Context, cfg config.Config, version string) (a *App, err error) {
	logs, err := logging.New(logging.Config{Service: Service, Version: version, Level: cfg.Level(), ElasticsearchURL: cfg.ElasticsearchURL})
	if err != nil {
		return nil, err
	}
	a = &App{cfg: cfg, version: version, logs: logs}
	a.log = logs.Logger.With().Str("gateway.id", cfg.GatewayID).Logger()
	defer func() {
		if err != nil {
			a.close()
		}
	}()

	sessionKeys, err := token.ParseKeyList(cfg.SessionPublicKeys)
	if err != nil {
		return nil, fmt.Errorf("SESSION_PUBLIC_KEYS: %w", err)
	}
	sessionVerifier, err := token.NewVerifier(sessionKeys, token.IssuerAuth, token.AudienceGateway)
	if err != nil {
		return nil, err
	}
	priv, err := token.LoadPrivateKey(cfg.InternalSigningKey)
	if err != nil {
		return nil, fmt.Errorf("INTERNAL_SIGNING_KEY: %w", err)
	}
	signer, err := token.NewSigner(priv, token.IssuerGateway)
	if err != nil {
		return nil, err
	}
	a.minter = session.NewMinter(signer)
	a.store = revocation.NewStore(nil)
	auth := session.NewAuthenticator(sessionVerifier, a.store)

	targets, err := newTargets(cfg)
	if err != nil {
		return nil, err
	}
	transport := proxy.NewTransport(cfg.UpstreamTimeout)
	client := &http.Client{Transport: transport, Timeout: cfg.UpstreamTimeout}
	a.loader = &revocation.Loader{
		Client: client, AuthURL: cfg.AuthURL, Log: a.log,
		Token: func() (string, error) { return a.minter.MintSelf(token.AudienceAuth) },
	}

	if a.amqp, err = rabbit.Dial(ctx, cfg.AMQPURL, a.log, rabbit.WithName(Service+"/"+cfg.GatewayID)); err != nil {
		return nil, err
	}

	a.link = realtime.NewLink(cfg.ChatURL, a.minter, a.log)
	a.realtime = realtime.New(auth, a.link, a.minter, a.log, realtime.Options{
		AllowedOrigins: cfg.AllowedOrigins,
		CommandTimeout: cfg.CommandTimeout,
		BufferLimit:    cfg.SocketBufferLimit,
	})
	// Revocations close the sockets they cover, wherever they come from.
	a.store.Subscribe(a.realtime.Revoke)

	health := &httpserver.Health{
		Service: Service, Version: version, Shipper: logs.Shipper,
		Checks: map[string]httpserver.Check{
			"auth-service": readyz(client, cfg.AuthURL),
			"user-service": readyz(client, cfg.UsersURL),
			"chat-service": readyz(client, cfg.ChatURL),
			"rabbitmq":     a.amqp.Check,
			"chat-link":    a.link.Check,
			"revocations": func(context.Context) error {
				if !a.store.Loaded() {
					return errors.New("revocation snapshot not loaded yet")
				}
				return nil
			},
		},
	}
	a.handler, err = httpapi.NewRouter(httpapi.Deps{
		Log:            a.log,
		Auth:           auth,
		Revocations:    a.store,
		Proxy:          proxy.New(a.minter, transport, cfg.UpstreamTimeout),
		Targets:        targets,
		Cookies:        httpapi.Cookies{Secure: cfg.SecureCookies()},
		AllowedOrigins: cfg.AllowedOrigins,
		TrustedProxies: cfg.TrustedProxies,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		Health:         health,
		OpenAPI:        api.OpenAPI,
		Realtime:       a.realtime.Handler(),
	})
	if err != nil {
		return nil, err
	}
	a.log.Info().Strs("session.kids", sessionKeys.KeyIDs()).Str("internal.kid", signer.KeyID()).
		Bool("cookies.secure", cfg.SecureCookies()).Msg("gateway configured")
	return a, nil
}

func newTargets(cfg config.Config) (httpapi.Targets, error) {
	var t httpapi.Targets
	var err error
	if t.Auth, err = proxy.NewTarget(token.AudienceAuth, cfg.AuthURL); err != nil {
		return t, err
	}
	if t.Users, err = proxy.NewTarget(token.AudienceUsers, cfg.UsersURL); err != nil {
		return t, err
	}
	t.Chat, err = proxy.NewTarget(token.AudienceChat, cfg.ChatURL)
	return t, err
}

// Handler is the gateway's public HTTP handler.
func (a *App) Handler() http.Handler { return a.handler }

// Run serves until ctx ends, then drains: the HTTP server first (bounded by
// SHUTDOWN_TIMEOUT), then the background work, then RabbitMQ and logs.
// ready, if not nil, receives the bound address.
func (a *App) Run(ctx context.Context, ready func(net.Addr)) error {
	defer a.close()
	bg, stopBG := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	defer func() { stopBG(); wg.Wait() }()

	consumer, err := a.newConsumer()
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
	// Sockets are closed as soon as shutdown starts: long-polling requests
	// would otherwise hold the HTTP drain for a whole ping interval.
	wg.Go(func() {
		select {
		case <-ctx.Done():
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

	a.log.Info().Str("addr", a.cfg.HTTPAddr).Bool("tls", a.cfg.TLS()).Msg("gateway starting")
	err = serve(ctx, a.cfg, a.handler, ready)
	a.log.Info().Err(err).Msg("gateway stopped")
	return err
}

// close releases what New acquired; safe to call on a partial App.
func (a *App) close() {
	if a.amqp != nil {
		_ = a.amqp.Close()
	}
	fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = a.logs.Close(fctx)
}

// readyz checks a service's readiness endpoint.
func readyz(client *http.Client, base string) httpserver.Check {
	url := strings.TrimRight(base, "/") + "/readyz"
	return func(ctx context.Context) error {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("readyz answered %s", resp.Status)
		}
		return nil
	}
}
