// Package httpapi is the gateway's public HTTP surface: the route table,
// session-cookie authentication, CSRF and body-size checks, and the auth
// routes that turn tokens into cookies.
package httpapi

import (
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/gateway/internal/proxy"
	"github.com/parleychat/parley/gateway/internal/revocation"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/metrics"
	"github.com/parleychat/parley/shared/problem"
)

// Targets are the services behind the gateway.
type Targets struct {
	Auth, Users, Chat proxy.Target
}

// Deps is what the router needs.
type Deps struct {
	Log            zerolog.Logger
	Auth           *session.Authenticator
	Revocations    *revocation.Store
	Proxy          *proxy.Proxy
	Targets        Targets
	Cookies        Cookies
	AllowedOrigins []string
	// TrustedProxies are the addresses whose X-Forwarded-For gives the
	// client IP; empty: the TCP peer is the client.
	TrustedProxies []string
	MaxBodyBytes   int64
	Health         *httpserver.Health
	// OpenAPI is the document served at /api/v1/openapi.yaml.
	OpenAPI []byte
	// AsyncAPI, when set, is the event document served at
	// /api/v1/asyncapi.yaml.
	AsyncAPI []byte
	// Web, when set, serves the reference web client at / and /web/.
	Web http.Handler
	// Realtime, when set, serves Socket.IO at /socket.io/.
	Realtime http.Handler
	// SessionRefreshed, when set, is told the identity of every session
	// token a refresh through this gateway hands out.
	SessionRefreshed func(session.Identity)
	// Metrics, if set, receives RED metrics per route.
	Metrics prometheus.Registerer
}

type handlers struct {
	auth        *session.Authenticator
	revocations *revocation.Store
	proxy       *proxy.Proxy
	targets     Targets
	cookies     Cookies
	refreshed   func(session.Identity)
}

// NewRouter builds the gateway's Gin engine.
func NewRouter(d Deps) (*gin.Engine, error) {
	cop := http.NewCrossOriginProtection()
	for _, o := range d.AllowedOrigins {
		if err := cop.AddTrustedOrigin(o); err != nil {
			return nil, fmt.Errorf("httpapi: trusted origin: %w", err)
		}
	}
	h := &handlers{auth: d.Auth, revocations: d.Revocations, proxy: d.Proxy, targets: d.Targets, cookies: d.Cookies,
		refreshed: d.SessionRefreshed}

	r := gin.New()
	if err := r.SetTrustedProxies(d.TrustedProxies); err != nil {
		return nil, fmt.Errorf("httpapi: trusted proxies: %w", err)
	}
	// Match on the escaped path so an encoded "/" (say, in an emoji
	// parameter) stays inside its segment; the path is forwarded as sent.
	r.UseRawPath = true
	// The gateway never redirects: a redirect to a cleaned path would
	// send a client somewhere the route table did not say, and clients of
	// a JSON API do not follow them anyway. Such paths are 404s.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.HandleMethodNotAllowed = true
	r.ContextWithFallback = true
	r.Use(logging.Middleware(d.Log, logging.MiddlewareOptions{NewTrace: true, Quiet: []string{"/healthz", "/readyz", "/socket.io/"}}),
		recoverProblem, cors(d.AllowedOrigins))
	if d.Metrics != nil {
		r.Use(metrics.HTTP(d.Metrics))
	}
	r.NoRoute(func(c *gin.Context) { problem.Write(c, problem.ErrNotFound) })
	r.NoMethod(func(c *gin.Context) {
		problem.Write(c, problem.New(http.StatusMethodNotAllowed, "method_not_allowed", "this route does not accept "+c.Request.Method))
	})

	d.Health.Register(r)
	if d.Realtime != nil {
		r.Any("/socket.io/*any", gin.WrapH(d.Realtime))
	}

	if d.Web != nil {
		r.GET("/", gin.WrapH(d.Web))
		r.GET("/web/*file", gin.WrapH(d.Web))
	}

	api := r.Group("/api/v1", crossOrigin(cop), limitBody(d.MaxBodyBytes))
	api.GET("/openapi.yaml", func(c *gin.Context) {
		c.Data(http.StatusOK, "application/yaml; charset=utf-8", d.OpenAPI)
	})
	if d.AsyncAPI != nil {
		api.GET("/asyncapi.yaml", func(c *gin.Context) {
			c.Data(http.StatusOK, "application/yaml; charset=utf-8", d.AsyncAPI)
		})
	}
	for _, rt := range h.routes() {
		chain := []gin.HandlerFunc{}
		switch rt.access {
		case public:
		case optional:
			chain = append(chain, h.optionalSession)
		case user:
			chain = append(chain, h.requireSession)
		}
		api.Handle(rt.method, rt.path, append(chain, rt.handler)...)
	}
	return r, nil
}

// access says who may call a route.
type access int

const (
	public   access = iota // anyone; forwarded as "anonymous"
	optional               // identified when possible (logout)
	user                   // a valid, unrevoked session is required
)

// route is one public route, forwarded with its path unchanged.
type route struct {
	method, path string
	access       access
	handler      gin.HandlerFunc
}

// Routes lists every public route as "METHOD /path" (Gin syntax), so tests
// can check the OpenAPI document describes exactly these.
func Routes() []string {
	var out []string
	for _, rt := range (&handlers{}).routes() {
		out = append(out, rt.method+" /api/v1"+rt.path)
	}
	return out
}

// routes is the public API of the design brief's "Public API" section;
// everything not listed is 404 at the gateway, so internal service routes
// are never reachable from outside.
func (h *handlers) routes() []route {
	to := func(t *proxy.Target) gin.HandlerFunc {
		return func(c *gin.Context) { h.proxy.Forward(c, *t, identityOf(c), nil) }
	}
	auth, users, chat := &h.targets.Auth, &h.targets.Users, &h.targets.Chat
	return []route{
		{"POST", "/auth/signup", public, h.issueSession},
		{"POST", "/auth/login", public, h.issueSession},
		{"POST", "/auth/refresh", public, h.refresh},
		{"POST", "/auth/logout", optional, h.logout},
		{"GET", "/auth/me", user, to(auth)},
		{"PUT", "/auth/password", user, h.changePassword},
		{"GET", "/auth/sessions", user, to(auth)},
		{"DELETE", "/auth/sessions/:id", user, h.revokeSession},

		{"GET", "/users/me", user, to(users)},
		{"PATCH", "/users/me", user, to(users)},
		{"GET", "/users/:id", user, to(users)},
		{"GET", "/users", user, to(users)},

		{"POST", "/conversations", user, to(chat)},
		{"GET", "/conversations", user, to(chat)},
		{"GET", "/conversations/:id", user, to(chat)},
		{"PATCH", "/conversations/:id", user, to(chat)},
		{"POST", "/conversations/:id/members", user, to(chat)},
		{"DELETE", "/conversations/:id/members/:userId", user, to(chat)},
		{"GET", "/conversations/:id/messages", user, to(chat)},
		{"POST", "/conversations/:id/messages", user, to(chat)},
		{"PATCH", "/conversations/:id/messages/:messageId", user, to(chat)},
		{"DELETE", "/conversations/:id/messages/:messageId", user, to(chat)},
		{"POST", "/conversations/:id/read", user, to(chat)},
		{"PUT", "/conversations/:id/messages/:messageId/reactions/:emoji", user, to(chat)},
		{"DELETE", "/conversations/:id/messages/:messageId/reactions/:emoji", user, to(chat)},
		{"GET", "/messages/search", user, to(chat)},
	}
}
