// Package httpapi serves chat-service's REST API (DESIGN.md, Public API) on Gin.
// Every route under /api/v1 requires a gateway-minted internal token for
// chat-service whose subject is a user id; the id is taken from the token
// only, never from the body or URL.
package httpapi

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/input"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/metrics"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/token"
)

// BodyLimit caps JSON request bodies: a 4000-character message is at most
// 16 KiB of UTF-8, a member list of 256 ids about 10 KiB.
const BodyLimit = 32 << 10

// Config is what the router needs.
type Config struct {
	Service  *chat.Service
	Verifier *token.Verifier // internal tokens, audience chat-service
	Logger   zerolog.Logger
	Health   *httpserver.Health
	// Metrics, if set, receives RED metrics per route.
	Metrics prometheus.Registerer
}

// NewRouter returns the Gin engine serving health and the API.
func NewRouter(cfg Config) *gin.Engine {
	r := gin.New()
	r.HandleMethodNotAllowed = true
	// No redirects, ever: a redirect would tell a caller without a token
	// that a route exists, and the gateway must not forward 3xx from here.
	r.RedirectTrailingSlash = false
	r.RedirectFixedPath = false
	r.Use(logging.Middleware(cfg.Logger, logging.MiddlewareOptions{Quiet: []string{"/healthz", "/readyz"}}))
	if cfg.Metrics != nil {
		r.Use(metrics.HTTP(cfg.Metrics))
	}
	// Unknown paths need a credential too, so a direct caller without one
	// learns nothing about which routes exist.
	r.NoRoute(token.RequireInternal(cfg.Verifier), func(c *gin.Context) { problem.Write(c, problem.ErrNotFound) })
	r.NoMethod(token.RequireInternal(cfg.Verifier), func(c *gin.Context) {
		problem.Write(c, problem.New(http.StatusMethodNotAllowed, "method_not_allowed", "this method is not allowed on this resource"))
	})
	if cfg.Health != nil {
		cfg.Health.Register(r)
	}
	h := &handlers{svc: cfg.Service}
	api := r.Group("/api/v1", token.RequireInternal(cfg.Verifier), requireUser)
	api.POST("/conversations", h.createConversation)
	api.GET("/conversations", h.listConversations)
	api.GET("/conversations/:id", h.getConversation)
	api.PATCH("/conversations/:id", h.renameConversation)
	api.POST("/conversations/:id/members", h.addMembers)
	api.DELETE("/conversations/:id/members/:userId", h.removeMember)
	api.GET("/conversations/:id/messages", h.listMessages)
	api.POST("/conversations/:id/messages", h.sendMessage)
	api.PATCH("/conversations/:id/messages/:messageId", h.editMessage)
	api.DELETE("/conversations/:id/messages/:messageId", h.deleteMessage)
	api.PUT("/conversations/:id/messages/:messageId/reactions/:emoji", h.react(true))
	api.DELETE("/conversations/:id/messages/:messageId/reactions/:emoji", h.react(false))
	api.POST("/conversations/:id/read", h.markRead)
	api.GET("/messages/search", h.search)
	return r
}

const userKey = "chat.userID"

// requireUser admits only tokens whose subject is a user id: the gateway's
// "anonymous" subject (public routes) has no business here.
func requireUser(c *gin.Context) {
	id, ok := input.ParseID(token.UserID(c.Request.Context()))
	if !ok {
		problem.Write(c, problem.ErrUnauthorized)
		return
	}
	c.Set(userKey, id)
	c.Next()
}

// userID is the caller, as verified by requireUser.
func userID(c *gin.Context) string { return c.GetString(userKey) }

// fail writes err as a problem.
func fail(c *gin.Context, err error) { problem.Write(c, chat.Problem(err)) }
