// Package httpapi is the gateway's public HTTP surface: the route table,
// session-cookie authentication, CSRF and body-size checks, and the auth
// routes that turn tokens into cookies.
package httpapi

import (
	"fmt"
	"net/http"
	"time"

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
	// Edge holds per-route-class timeouts and rate limits.
	Edge Edge
}

// Edge is the per-route-class policy: timeouts (0: the proxy's default)
// and rate limits in requests per second (0: none; bursts of twice that).
type Edge struct {
	ReadTimeout, WriteTimeout, AuthTimeout time.Duration
	// RateIP applies per client IP to every /api/v1 route, RateAuthIP per
	// client IP to the auth class, RateUserRead and RateUserWrite per user
	// to the signed-in read and write classes.
	RateIP, RateAuthIP, RateUserRead, RateUserWrite float64
}

// class groups routes that share a timeout and a rate limit.
type class int

const (
	classAuth  class = iota // signup, login, refresh, logout, password: hashing and token rotation
	classRead               // GET
	classWrite              // every other signed-in change
)

type handlers struct {
	auth        *session.Authenticator
	revocations *revocation.Store
	proxy       *proxy.Proxy
	targets     Targets
	cookies     Cookies
	refreshed   func(session.Identity)
	timeouts    map[class]time.Duration
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
		refreshed: d.SessionRefreshed,
		timeouts:  map[class]time.Duration{classAuth: d.Edge.AuthTimeout, classRead: d.Edge.ReadTimeout, classWrite: d.Edge.WriteTimeout}}
	// The auth handlers forward to auth-service with the auth class's
	// timeout; proxied routes set their own class's (routes).
	h.targets.Auth = h.targets.Auth.WithTimeout(d.Edge.AuthTimeout)
	perIP := map[class]*limiter{classAuth: newLimiter("address", d.Edge.RateAuthIP)}
	perUser := map[class]*limiter{classRead: newLimiter("user", d.Edge.RateUserRead), classWrite: newLimiter("user", d.Edge.RateUserWrite)}

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
	if l := newLimiter("address", d.Edge.RateIP); l != nil {
		api.Use(l.handler(clientIP))
	}
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
		if l := perIP[rt.class]; l != nil {
			chain = append(chain, l.handler(clientIP))
		}
		switch rt.access {
		case public:
		case optional:
			chain = append(chain, h.optionalSession)
		case user:
			chain = append(chain, h.requireSession)
			if l := perUser[rt.class]; l != nil {
				chain = append(chain, l.handler(userKey))
			}
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
	class        class
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
	to := func(t *proxy.Target, cl class) gin.HandlerFunc {
		return func(c *gin.Context) { h.proxy.Forward(c, t.WithTimeout(h.timeouts[cl]), identityOf(c), nil) }
	}
	auth, users, chat := &h.targets.Auth, &h.targets.Users, &h.targets.Chat
	const r, w, a = classRead, classWrite, classAuth
	return []route{
		{"POST", "/auth/signup", public, a, h.issueSession},
		{"POST", "/auth/login", public, a, h.issueSession},
		{"POST", "/auth/refresh", public, a, h.refresh},
		{"POST", "/auth/logout", optional, a, h.logout},
		{"GET", "/auth/me", user, r, to(auth, r)},
		{"PUT", "/auth/password", user, a, h.changePassword},
		{"GET", "/auth/sessions", user, r, to(auth, r)},
		{"DELETE", "/auth/sessions/:id", user, w, h.revokeSession},

		{"GET", "/users/me", user, r, to(users, r)},
		{"PATCH", "/users/me", user, w, to(users, w)},
		{"GET", "/users/:id", user, r, to(users, r)},
		{"GET", "/users", user, r, to(users, r)},

		{"POST", "/conversations", user, w, to(chat, w)},
		{"GET", "/conversations", user, r, to(chat, r)},
		{"GET", "/conversations/:id", user, r, to(chat, r)},
		{"PATCH", "/conversations/:id", user, w, to(chat, w)},
		{"POST", "/conversations/:id/members", user, w, to(chat, w)},
		{"DELETE", "/conversations/:id/members/:userId", user, w, to(chat, w)},
		{"GET", "/conversations/:id/messages", user, r, to(chat, r)},
		{"POST", "/conversations/:id/messages", user, w, to(chat, w)},
		{"PATCH", "/conversations/:id/messages/:messageId", user, w, to(chat, w)},
		{"DELETE", "/conversations/:id/messages/:messageId", user, w, to(chat, w)},
		{"POST", "/conversations/:id/read", user, w, to(chat, w)},
		{"PUT", "/conversations/:id/messages/:messageId/reactions/:emoji", user, w, to(chat, w)},
		{"DELETE", "/conversations/:id/messages/:messageId/reactions/:emoji", user, w, to(chat, w)},
		{"GET", "/messages/search", user, r, to(chat, r)},
	}
}
