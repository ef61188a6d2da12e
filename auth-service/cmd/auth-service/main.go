// Command auth-service runs Parley's account and session service: signup,
// login, refresh-token rotation, logout, password change and session
// management, publishing its events through a transactional outbox.
// Configuration is read from the environment (see internal/config).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/auth-service/internal/app"
	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/auth-service/internal/config"
)

// version is overridden at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", auth.ServiceName, err)
		os.Exit(2)
	}
	// Gin's mode is process-wide state, so it is set here, once.
	gin.SetMode(gin.ReleaseMode)
	if err := app.Run(ctx, cfg, version, nil); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", auth.ServiceName, err)
		os.Exit(1)
	}
}
