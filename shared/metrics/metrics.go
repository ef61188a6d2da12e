// Package metrics holds Parley's Prometheus metrics that every service
// shares: RED metrics for HTTP routes and Socket.IO commands, and collectors
// that read, at scrape time, the counters the PostgreSQL pool, the outbox,
// the RabbitMQ consumers and the log shipper already keep (so the hot path
// pays nothing for them).
//
// Names follow Prometheus conventions (parley_ prefix, base units, _total
// counters); labels are bounded: route templates, never paths; command
// names from a fixed list; never user ids. The service is told apart by the
// scrape's job and instance labels, not by a label of ours.
package metrics

import (
	"context"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/rabbit"
)

// latencyBuckets span a fast in-memory answer to a slow database trip, in
// seconds.
var latencyBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// HTTP returns Gin middleware recording parley_http_requests_total and
// parley_http_request_duration_seconds by route template, method and status
// code. Requests that match no route count under route "unmatched".
func HTTP(reg prometheus.Registerer) gin.HandlerFunc {
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "parley_http_requests_total", Help: "HTTP requests answered, by route template, method and status code.",
	}, []string{"route", "method", "code"})
	duration := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "parley_http_request_duration_seconds", Help: "Time to answer an HTTP request, by route template and method.",
		Buckets: latencyBuckets,
	}, []string{"route", "method"})
	reg.MustRegister(requests, duration)
	return func(c *gin.Context) {
		start := time.Now()
		c.Next()
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		method := boundedMethod(c.Request.Method)
		requests.WithLabelValues(route, method, strconv.Itoa(c.Writer.Status())).Inc()
		duration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
	}
}

// boundedMethod keeps the method label to the standard set.
func boundedMethod(m string) string {
	switch m {
	case "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS":
		return m
	}
	return "other"
}

// Commands records Socket.IO commands (client commands at the gateway, link
// commands at chat-service) by name and outcome.
type Commands struct {
	total    *prometheus.CounterVec
	duration *prometheus.HistogramVec
	known    map[string]bool
}

// NewCommands registers parley_socketio_commands_total{command,outcome} and
// parley_socketio_command_duration_seconds{command}. Names outside names are
// counted as "unknown", so a client cannot grow the label set.
func NewCommands(reg prometheus.Registerer, names []string) *Commands {
	c := &Commands{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_socketio_commands_total", Help: "Socket.IO commands handled, by command and outcome (ok or a problem code).",
		}, []string{"command", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "parley_socketio_command_duration_seconds", Help: "Time from receiving a Socket.IO command to its ack.",
			Buckets: latencyBuckets,
		}, []string{"command"}),
		known: map[string]bool{},
	}
	for _, n := range names {
		c.known[n] = true
	}
	reg.MustRegister(c.total, c.duration)
	return c
}

// Observe records one command. outcome is "ok" or the problem code; codes
// are a fixed set in each service.
func (c *Commands) Observe(command, outcome string, d time.Duration) {
	if !c.known[command] {
		command = "unknown"
	}
	c.total.WithLabelValues(command, outcome).Inc()
	c.duration.WithLabelValues(command).Observe(d.Seconds())
}

// RegisterPool exports a pgx pool's statistics as parley_pg_pool_*.
func RegisterPool(reg prometheus.Registerer, pool *pgxpool.Pool) {
	gauge := func(name, help string, f func(*pgxpool.Stat) float64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(pool.Stat()) })
	}
	counter := func(name, help string, f func(*pgxpool.Stat) float64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return f(pool.Stat()) })
	}
	reg.MustRegister(
		gauge("parley_pg_pool_acquired_connections", "Connections in use.", func(s *pgxpool.Stat) float64 { return float64(s.AcquiredConns()) }),
		gauge("parley_pg_pool_idle_connections", "Idle connections.", func(s *pgxpool.Stat) float64 { return float64(s.IdleConns()) }),
		gauge("parley_pg_pool_max_connections", "Pool size limit.", func(s *pgxpool.Stat) float64 { return float64(s.MaxConns()) }),
		counter("parley_pg_pool_acquires_total", "Connections acquired.", func(s *pgxpool.Stat) float64 { return float64(s.AcquireCount()) }),
		counter("parley_pg_pool_empty_acquires_total", "Acquires that had to wait for a connection.", func(s *pgxpool.Stat) float64 { return float64(s.EmptyAcquireCount()) }),
		counter("parley_pg_pool_acquire_wait_seconds_total", "Time spent waiting for a connection.", func(s *pgxpool.Stat) float64 { return s.AcquireDuration().Seconds() }),
	)
}

// RegisterShipper exports the log shipper's counters: records shipped,
// dropped (queue full) and failed (refused by Elasticsearch), and the queue.
func RegisterShipper(reg prometheus.Registerer, s *logging.Shipper) {
	if s == nil {
		return
	}
	records := func(outcome string, f func(logging.ShipperStats) int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_log_records_total", Help: "Log records by shipping outcome.", ConstLabels: prometheus.Labels{"outcome": outcome},
		}, func() float64 { return float64(f(s.Stats())) })
	}
	reg.MustRegister(
		records("shipped", func(st logging.ShipperStats) int64 { return st.Shipped }),
		records("dropped", func(st logging.ShipperStats) int64 { return st.Dropped }),
		records("failed", func(st logging.ShipperStats) int64 { return st.Failed }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_log_queue_records", Help: "Log records waiting to be shipped."},
			func() float64 { return float64(s.Stats().Queued) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_log_shipping_healthy", Help: "1 while log shipping is healthy (reachable, nothing refused lately)."},
			func() float64 {
				if s.Stats().Healthy {
					return 1
				}
				return 0
			}),
	)
}

// RegisterConsumer exports a RabbitMQ consumer's counters under its queue
// name (a fixed, small set per service).
func RegisterConsumer(reg prometheus.Registerer, consumer *rabbit.Consumer) {
	queue, stats := consumer.Queue(), consumer.Stats
	c := func(outcome string, f func(rabbit.ConsumerStats) uint64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_consumer_messages_total", Help: "Messages consumed, by queue and outcome (handled, retried, dead_lettered).",
			ConstLabels: prometheus.Labels{"queue": queue, "outcome": outcome},
		}, func() float64 { return float64(f(stats())) })
	}
	reg.MustRegister(
		c("handled", func(s rabbit.ConsumerStats) uint64 { return s.Handled }),
		c("retried", func(s rabbit.ConsumerStats) uint64 { return s.Retried }),
		c("dead_lettered", func(s rabbit.ConsumerStats) uint64 { return s.DeadLettered }),
		prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: "parley_consumer_restarts_total", Help: "Times a consumer was re-created after its channel ended.", ConstLabels: prometheus.Labels{"queue": queue},
		}, func() float64 { return float64(stats().Restarts) }),
	)
}

// RegisterOutbox exports the outbox backlog (unpublished rows) and the age
// of the oldest of them (commit-to-publish lag), read from PostgreSQL at
// scrape time with a short timeout; a failed read reports -1.
func RegisterOutbox(reg prometheus.Registerer, pool *pgxpool.Pool) {
	read := func() (n, age float64) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		err := pool.QueryRow(ctx, `SELECT count(*), COALESCE(EXTRACT(EPOCH FROM now() - min(created_at)), 0)
			FROM outbox WHERE published_at IS NULL`).Scan(&n, &age)
		if err != nil {
			return -1, -1
		}
		return n, age
	}
	reg.MustRegister(
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_outbox_backlog_events", Help: "Committed events not yet published."},
			func() float64 { n, _ := read(); return n }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "parley_outbox_lag_seconds", Help: "Age of the oldest unpublished event (commit-to-publish lag)."},
			func() float64 { _, a := read(); return a }),
	)
}
