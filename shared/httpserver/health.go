package httpserver

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/shared/logging"
)

// Check probes one dependency; a nil error means it answers.
type Check func(ctx context.Context) error

// Health serves liveness and readiness for a service.
type Health struct {
	Service string
	Version string
	// Checks are the dependencies that make the service unready when down.
	Checks map[string]Check
	// Shipper, if set, is reported but never makes the service unready.
	Shipper *logging.Shipper
	// Timeout bounds each check; default 2s.
	Timeout time.Duration
}

type checkResult struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
}

// Register adds GET /healthz and GET /readyz to r.
func (h *Health) Register(r gin.IRoutes) {
	r.GET("/healthz", func(c *gin.Context) {
		c.JSON(http.StatusOK, gin.H{"status": "ok", "service": h.Service, "version": h.Version})
	})
	r.GET("/readyz", h.ready)
}

func (h *Health) ready(c *gin.Context) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), timeout)
	defer cancel()
	results := make(map[string]checkResult, len(h.Checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for name, check := range h.Checks {
		wg.Go(func() {
			res := checkResult{Status: "up"}
			if err := check(ctx); err != nil {
				res = checkResult{Status: "down", Error: err.Error()}
			}
			mu.Lock()
			results[name] = res
			mu.Unlock()
		})
	}
	wg.Wait()
	status, code := "ready", http.StatusOK
	for _, r := range results {
		if r.Status != "up" {
			status, code = "unready", http.StatusServiceUnavailable
		}
	}
	body := gin.H{"status": status, "service": h.Service, "version": h.Version, "checks": results}
	if h.Shipper != nil {
		body["logShipping"] = h.Shipper.Stats()
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(code, body)
}
