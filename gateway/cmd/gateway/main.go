// Command gateway runs Parley's public gateway: REST routing to the
// services with per-request internal tokens, session cookies, revocation
// checks, CSRF and size limits, and Socket.IO for clients with a link to
// chat-service.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/gateway/internal/app"
	"github.com/parleychat/parley/gateway/internal/config"
)

// version is overridden at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(1)
	}
	// Gin's mode is process-wide state: set once here, never by a
	// constructor.
	gin.SetMode(gin.ReleaseMode)
	if err := app.Run(ctx, cfg, version, nil); err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(1)
	}
}
