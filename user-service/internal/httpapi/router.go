// Package httpapi serves user-service's HTTP API with Gin at the public
// paths the gateway forwards unchanged. Every /api route requires an
// internal token minted by the gateway for aud user-service; a direct call,
// or a user's session token, gets 401.
package httpapi

import (
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/token"
	"github.com/parleychat/parley/user-service/internal/users"
)

// maxBody bounds request bodies: the largest legitimate PATCH (a 2048-byte
// URL, 500 four-byte characters of bio, 64 of name) is under 5 KiB, JSON
// escaping included.
const maxBody = 16 << 10

// Deps is what the router needs.
type Deps struct {
	Service  *users.Service
	Verifier *token.Verifier // internal tokens: iss parley-gateway, aud user-service
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
	api := r.Group("/api/v1", requireInternal, requireUser)
	api.GET("/users/me", h.me)
	api.PATCH("/users/me", h.updateMe)
	api.GET("/users/:id", h.get)
	api.GET("/users", h.search)
	return r
}
