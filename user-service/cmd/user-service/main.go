// Command user-service runs Parley's profile service: public profiles
// created from auth-service's registration events, edited by their owners,
// and a prefix search over them. Configuration is read from the environment
// (see internal/config).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/parleychat/parley/user-service/internal/app"
)

// version is overridden at build time with -ldflags "-X main.version=...".
var version = "0.1.0"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := app.Run(ctx, app.Options{Version: version}); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", app.Service, err)
		os.Exit(1)
	}
}
