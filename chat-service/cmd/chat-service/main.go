// Command chat-service serves conversations and messages: REST for the
// gateway's forwarded requests, a Socket.IO link for its real-time
// commands, and chat.*.v1 events through the outbox (DESIGN.md: Public API,
// Socket.IO, Events).
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/chat-service/internal/app"
	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/config"
)

// version is the release, overridden at build time with
// -ldflags "-X main.version=...".
var version = "0.1.0"

// gcPercent is the collector's target when GOGC is not set: the heap may
// grow by 200% of what is live before a collection, rather than Go's 100%.
// chat-service's live heap is small and does not grow with clients (they
// hold no state here), and every message allocates: under load the default
// spent about an eighth of the process's CPU marking. Twice the headroom
// halves that for a few tens of MB.
const gcPercent = 200

// tuneGC sets the collector's target to gcPercent unless GOGC is set.
func tuneGC(getenv func(string) string) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
}

func main() {
	tuneGC(os.Getenv)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", chat.ServiceName, err)
		os.Exit(2)
	}
	// Gin's mode is process-wide state, so it is set here, once.
	gin.SetMode(gin.ReleaseMode)
	if err := app.Run(ctx, cfg, version, nil); err != nil {
		os.Exit(1)
	}
}
