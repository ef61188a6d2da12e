package httpserver

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/metrics"
	"github.com/parleychat/parley/shared/problem"
)

// Answers for paths and methods no route serves.
var (
	errNoRoute  = problem.New(http.StatusNotFound, "not_found", "no such route")
	errNoMethod = problem.New(http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed on this route")
)

// EngineOptions configure NewEngine.
type EngineOptions struct {
	// Logger receives one record per request.
	Logger zerolog.Logger
	// Guard, if set, runs before the not-found and method-not-allowed
	// answers (normally token.RequireInternal): without valid credentials
	// an unknown path answers as a known one does, so no route is revealed.
	Guard gin.HandlerFunc
	// Health, if set, serves the public /healthz and /readyz.
	Health *Health
	// Metrics, if set, records RED metrics per route (metrics.HTTP).
	Metrics prometheus.Registerer
}

// NewEngine returns a Gin engine set up the one way Parley serves HTTP:
// request logging with panics recovered as problem+json, problem+json for
// unknown paths (404) and methods (405), and no redirects of any kind, so
// a client is never sent elsewhere and an encoded slash never becomes a
// 3xx. Services add their routes to it.
func NewEngine(o EngineOptions) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	r.RedirectTrailingSlash, r.RedirectFixedPath = false, false
	r.Use(logging.Middleware(o.Logger, logging.MiddlewareOptions{Quiet: []string{"/healthz", "/readyz"}}))
	if o.Metrics != nil {
		r.Use(metrics.HTTP(o.Metrics))
	}
	var noRoute, noMethod []gin.HandlerFunc
	if o.Guard != nil {
		noRoute, noMethod = []gin.HandlerFunc{o.Guard}, []gin.HandlerFunc{o.Guard}
	}
	r.NoRoute(append(noRoute, func(c *gin.Context) { problem.Write(c, errNoRoute) })...)
	r.NoMethod(append(noMethod, func(c *gin.Context) { problem.Write(c, errNoMethod) })...)
	if o.Health != nil {
		o.Health.Register(r)
	}
	return r
}
