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
	if err := run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "gateway: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	gin.SetMode(gin.ReleaseMode)
	a, err := app.New(ctx, cfg, version)
	if err != nil {
		return err
	}
	return a.Run(ctx, nil)
}
