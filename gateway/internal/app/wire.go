package app

import (
	"context"
	"fmt"
	"net/http"

	"github.com/parleychat/parley/gateway/api"
	"github.com/parleychat/parley/gateway/internal/config"
	"github.com/parleychat/parley/gateway/internal/httpapi"
	"github.com/parleychat/parley/gateway/internal/proxy"
	"github.com/parleychat/parley/gateway/internal/realtime"
	"github.com/parleychat/parley/gateway/internal/revocation"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/gateway/web"
	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/metrics"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/token"
)

// newApp builds the gateway described by cfg. It dials RabbitMQ (retrying
// until ctx ends), so the revocation consumer can start before anything
// else.
func newApp(ctx context.Context, cfg config.Config, version string) (a *App, err error) {
	logs, err := logging.New(logging.Config{Service: Service, Version: version, Level: cfg.Level(), ElasticsearchURL: cfg.ElasticsearchURL, RetentionDays: cfg.LogRetentionDays})
	if err != nil {
		return nil, err
	}
	a = &App{cfg: cfg, version: version, logs: logs, refreshes: make(chan session.Identity, refreshQueue)}
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
	// A browser sends the same session cookie with every request: the
	// verified string is remembered until its exp (re-checked on every
	// hit), and Authenticate checks revocation on every request, cached
	// or not.
	sessionVerifier, err := token.NewVerifier(sessionKeys, token.IssuerAuth, token.AudienceGateway, token.WithCache(sessionCacheSize))
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
	transport := proxy.NewTransport(cfg.LongestTimeout())
	client := &http.Client{Transport: transport, Timeout: cfg.UpstreamTimeout}
	a.loader = &revocation.Loader{
		Client: client, AuthURL: cfg.AuthURLs()[0], Log: a.log,
		Token: func() (string, error) { return a.minter.MintSelf(token.AudienceAuth) },
	}

	if a.amqp, err = rabbit.Dial(ctx, cfg.AMQPURL, a.log, rabbit.WithName(Service+"/"+cfg.GatewayID)); err != nil {
		return nil, err
	}

	if a.link, err = realtime.NewLink(cfg.ChatURLs(), a.minter, a.log); err != nil {
		return nil, err
	}
	a.reg = httpserver.NewRegistry()
	metrics.RegisterShipper(a.reg, logs.Shipper)
	a.realtime = realtime.New(auth, a.link, a.minter, a.log, realtime.Options{
		Metrics:        a.reg,
		AllowedOrigins: cfg.AllowedOrigins,
		CommandTimeout: cfg.CommandTimeout,
		BufferLimit:    cfg.SocketBufferLimit,
		SocketsPerUser: cfg.SocketsPerUser,
	})
	// Revocations close the sockets they cover, wherever they come from.
	a.store.Subscribe(a.realtime.Revoke)

	px := proxy.New(a.minter, cfg.UpstreamTimeout, proxy.RetryBudget{Ratio: cfg.RetryBudget})
	if err := px.RegisterMetrics(a.reg, targets.Auth, targets.Users, targets.Chat); err != nil {
		return nil, err
	}
	public, ops := a.health(client, logs.Shipper)
	a.ops = ops.OpsHandler(a.reg)
	a.handler, err = httpapi.NewRouter(httpapi.Deps{
		Log:         a.log,
		Auth:        auth,
		Revocations: a.store,
		Proxy:       px,
		Targets:     targets,
		Edge: httpapi.Edge{
			ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.UpstreamTimeout, AuthTimeout: cfg.AuthTimeout,
			RateIP: cfg.RateIP, RateAuthIP: cfg.RateAuthIP, RateUserRead: cfg.RateUserRead, RateUserWrite: cfg.RateUserWrite,
		},
		Cookies:        httpapi.Cookies{Secure: cfg.SecureCookies()},
		AllowedOrigins: cfg.AllowedOrigins,
		TrustedProxies: cfg.TrustedProxies,
		MaxBodyBytes:   cfg.MaxBodyBytes,
		Health:         public,
		OpenAPI:        api.OpenAPI,
		AsyncAPI:       api.AsyncAPI,
		Web:            web.Handler(),
		Realtime:       a.realtime.Handler(),

		SessionRefreshed: a.sessionRefreshed,
		Metrics:          a.reg,
	})
	if err != nil {
		return nil, err
	}
	a.log.Info().Strs("session.kids", sessionKeys.KeyIDs()).Str("internal.kid", signer.KeyID()).
		Bool("cookies.secure", cfg.SecureCookies()).Msg("gateway configured")
	return a, nil
}

// sessionCacheSize bounds the verified session tokens remembered: one per
// active session on this instance, under 1 KB each (key and claims), so at
// most about 16 MB; past it, half are dropped and re-verified when next
// seen. Refusals are never cached.
const sessionCacheSize = 16384

func newTargets(cfg config.Config) (httpapi.Targets, error) {
	var t httpapi.Targets
	var err error
	b := proxy.Breaker{Failures: cfg.BreakerFailures, Open: cfg.BreakerOpen}
	if t.Auth, err = proxy.NewTarget(token.AudienceAuth, cfg.AuthURLs(), b); err != nil {
		return t, err
	}
	if t.Users, err = proxy.NewTarget(token.AudienceUsers, cfg.UsersURLs(), b); err != nil {
		return t, err
	}
	t.Chat, err = proxy.NewTarget(token.AudienceChat, cfg.ChatURLs(), b)
	return t, err
}
