package proxy

import (
	"github.com/prometheus/client_golang/prometheus"
)

// edgeMetrics counts what the proxy did at the edge, by service (the
// target's audience). The counters exist unregistered until
// RegisterMetrics, so Forward never checks for them.
type edgeMetrics struct {
	retries     *prometheus.CounterVec
	unavailable *prometheus.CounterVec
}

func newEdgeMetrics() edgeMetrics {
	return edgeMetrics{
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_gateway_upstream_retries_total",
			Help: "Requests sent again after a connection failure, by service.",
		}, []string{"service"}),
		unavailable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "parley_gateway_upstream_open_total",
			Help: "Requests answered 503 at once because every instance of the service was ejected (breakers open), by service.",
		}, []string{"service"}),
	}
}

// RegisterMetrics registers the proxy's counters with reg, and for each
// target parley_gateway_upstream_ejections_total{service}: how many times
// one of its instances' breakers opened.
func (p *Proxy) RegisterMetrics(reg prometheus.Registerer, targets ...Target) error {
	cs := []prometheus.Collector{p.metrics.retries, p.metrics.unavailable}
	for _, t := range targets {
		pl := t.pool
		cs = append(cs, prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name:        "parley_gateway_upstream_ejections_total",
			Help:        "Times an instance of the service was ejected (its circuit breaker opened), by service.",
			ConstLabels: prometheus.Labels{"service": t.Audience},
		}, func() float64 {
			var n int64
			for _, in := range pl.instances {
				n += in.trips.Load()
			}
			return float64(n)
		}))
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	return nil
}
