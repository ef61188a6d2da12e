package httpserver

import (
	"context"
	"encoding/json"
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

// Register adds GET /healthz and GET /readyz to r, the public listener: its
// readiness answers only whether this process can serve, with no dependency
// names or errors (those are on the ops address, see OpsHandler).
func (h *Health) Register(r gin.IRoutes) {
	r.GET("/healthz", ginHandler(func(w http.ResponseWriter, _ *http.Request) { h.live(w) }))
	r.GET("/readyz", ginHandler(func(w http.ResponseWriter, r *http.Request) { h.serveReady(w, r, false) }))
}

func (h *Health) live(w http.ResponseWriter) {
	writeJSON(w, http.StatusOK, map[string]any{"status": "ok", "service": h.Service, "version": h.Version})
}

// serveReady runs every check; detail adds each check's status and error
// and the log shipper's figures, for the ops address only.
func (h *Health) serveReady(w http.ResponseWriter, r *http.Request, detail bool) {
	timeout := h.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
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
	body := map[string]any{"status": status, "service": h.Service, "version": h.Version}
	if detail {
		body["checks"] = results
		if h.Shipper != nil {
			body["logShipping"] = h.Shipper.Stats()
		}
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, status int, body any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(body)
}
