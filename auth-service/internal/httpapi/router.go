// Package httpapi serves auth-service's HTTP API with Gin: the public auth
// routes (reached through the gateway at the same paths), the gateway's
// revocation snapshot, and health. Every /api route requires an internal
// token minted by the gateway for aud auth-service.
package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/token"
)

// maxBody bounds every request body: the largest legitimate one is a
// password change with two 1024-byte passwords.
const maxBody = 16 << 10

// Deps is what the router needs.
type Deps struct {
	Service  *auth.Service
	Verifier *token.Verifier // internal tokens: iss parley-gateway, aud auth-service
	Logger   zerolog.Logger
	Health   *httpserver.Health
	// Metrics, if set, receives RED metrics per route.
	Metrics prometheus.Registerer
}

// NewRouter returns the service's HTTP handler.
func NewRouter(d Deps) http.Handler {
	requireInternal := token.RequireInternal(d.Verifier)
	r := httpserver.NewEngine(httpserver.EngineOptions{Logger: d.Logger, Guard: requireInternal, Health: d.Health, Metrics: d.Metrics})

	h := &handlers{svc: d.Service}
	api := r.Group("/api/v1", requireInternal)

	// Public routes: the gateway calls them for anonymous clients with an
	// internal token whose sub is "anonymous"; any valid internal token will
	// do.
	api.POST("/auth/signup", h.signup)
	api.POST("/auth/login", h.login)
	api.POST("/auth/refresh", h.refresh)
	api.POST("/auth/logout", h.logout)

	// User routes: the internal token's sub must be a user id.
	api.GET("/auth/me", h.me)
	api.PUT("/auth/password", h.changePassword)
	api.GET("/auth/sessions", h.sessions)
	api.DELETE("/auth/sessions/:id", h.revokeSession)

	// For gateways catching up on revocations at start-up.
	api.GET("/internal/revocations", h.revocations)
	return r
}
