package metrics

import (
	"context"
	_ "embed"
	"encoding/json"
	"math"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/parleychat/parley/shared/logging"
)

// IndexPrefix names the daily metric indices: parley-metrics-YYYY.MM.DD.
const IndexPrefix = "parley-metrics-"

//go:embed index-template.json
var indexTemplate []byte

// ReporterConfig configures a Reporter.
type ReporterConfig struct {
	ElasticsearchURL string
	Service, Version string
	// Instance tells instances of one service apart (e.g. the ops address).
	Instance string
	// Interval between documents; default 10s.
	Interval time.Duration
	// RetentionDays for the daily metric indices; default 14.
	RetentionDays int
}

// Reporter writes one document per interval to Elasticsearch with what the
// registry measured during that interval, so Kibana can chart throughput,
// latency, lag and errors beside the logs. Counters become per-second rates
// (prometheus.metrics.<name>_rate), gauges their current value, histograms
// a rate and p50/p99 of the interval's observations; two derived rates are
// added: 5xx answers and failed Socket.IO commands. It goes through the same
// bounded, non-blocking shipper as the logs.
type Reporter struct {
	cfg     ReporterConfig
	reg     prometheus.Gatherer
	shipper *logging.Shipper
	prev    map[string]float64  // counter sums at the last document
	prevH   map[string][]bucket // histogram buckets at the last document
	last    time.Time
}

type bucket struct {
	le    float64
	count float64
}

// NewReporter returns a reporter for reg; call Run.
func NewReporter(cfg ReporterConfig, reg prometheus.Gatherer) (*Reporter, error) {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	sh, err := logging.NewShipper(logging.ShipperConfig{
		URL: cfg.ElasticsearchURL, Service: cfg.Service, IndexPrefix: IndexPrefix, Template: indexTemplate,
		RetentionDays: cfg.RetentionDays, QueueSize: 1000,
	})
	if err != nil {
		return nil, err
	}
	return &Reporter{cfg: cfg, reg: reg, shipper: sh, prev: map[string]float64{}, prevH: map[string][]bucket{}}, nil
}

// Shipper is the reporter's shipper, for its health and metrics.
func (r *Reporter) Shipper() *logging.Shipper { return r.shipper }

// Run writes a document every interval until ctx ends, then flushes what
// is queued for up to grace.
func (r *Reporter) Run(ctx context.Context, grace time.Duration) {
	tick := time.NewTicker(r.cfg.Interval)
	defer tick.Stop()
	r.document(time.Now()) // the baseline; its rates cover no interval and are not written
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.Background(), grace)
			defer cancel()
			_ = r.shipper.Close(fctx)
			return
		case now := <-tick.C:
			if doc := r.document(now); doc != nil {
				_, _ = r.shipper.Write(doc)
			}
		}
	}
}

// document gathers the registry and returns the interval's document, or nil
// for the first call (no interval yet) or when gathering fails.
func (r *Reporter) document(now time.Time) []byte {
	mfs, err := r.reg.Gather()
	if err != nil {
		return nil
	}
	first := r.last.IsZero()
	secs := now.Sub(r.last).Seconds()
	r.last = now
	fields := map[string]float64{}
	rate := func(key string, total float64) {
		prev, seen := r.prev[key]
		r.prev[key] = total
		if first || !seen || secs <= 0 {
			return
		}
		fields[key+"_rate"] = math.Max(0, total-prev) / secs // a restart resets counters
	}
	for _, mf := range mfs {
		name := mf.GetName()
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			var sum, errs float64
			for _, m := range mf.GetMetric() {
				v := m.GetCounter().GetValue()
				sum += v
				if failed(name, m.GetLabel()) {
					errs += v
				}
			}
			rate(name, sum)
			switch name {
			case "parley_http_requests_total":
				rate("parley_http_5xx_total", errs)
			case "parley_socketio_commands_total":
				rate("parley_socketio_command_failures_total", errs)
			}
		case dto.MetricType_GAUGE:
			var sum float64
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue()
			}
			fields[name] = sum
		case dto.MetricType_HISTOGRAM:
			r.histogram(name, mf.GetMetric(), first, secs, fields)
		}
	}
	if first {
		return nil
	}
	metrics := map[string]any{}
	keys := make([]string, 0, len(fields))
	for k := range fields {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !math.IsNaN(fields[k]) && !math.IsInf(fields[k], 0) {
			metrics[k] = fields[k]
		}
	}
	doc, err := json.Marshal(map[string]any{
		"@timestamp": now.UTC().Format(time.RFC3339Nano),
		"service":    map[string]string{"name": r.cfg.Service, "version": r.cfg.Version, "instance": r.cfg.Instance},
		"event":      map[string]string{"dataset": "parley.metrics", "module": "prometheus"},
		"metricset":  map[string]any{"name": "parley", "period": r.cfg.Interval.Milliseconds()},
		"prometheus": map[string]any{"metrics": metrics},
	})
	if err != nil {
		return nil
	}
	return doc
}

// failed reports whether a series counts a failure: an HTTP 5xx, or a
// Socket.IO command whose outcome is not ok.
func failed(name string, labels []*dto.LabelPair) bool {
	for _, l := range labels {
		switch {
		case name == "parley_http_requests_total" && l.GetName() == "code":
			return strings.HasPrefix(l.GetValue(), "5")
		case name == "parley_socketio_commands_total" && l.GetName() == "outcome":
			return l.GetValue() != "ok"
		}
	}
	return false
}

// histogram adds the interval's rate, p50 and p99 (seconds) of one family,
// from the difference of its summed buckets since the last document.
func (r *Reporter) histogram(name string, ms []*dto.Metric, first bool, secs float64, fields map[string]float64) {
	sum := map[float64]float64{}
	var total float64
	for _, m := range ms {
		h := m.GetHistogram()
		total += float64(h.GetSampleCount())
		for _, b := range h.GetBucket() {
			sum[b.GetUpperBound()] += float64(b.GetCumulativeCount())
		}
	}
	cur := make([]bucket, 0, len(sum)+1)
	for le, c := range sum {
		cur = append(cur, bucket{le, c})
	}
	cur = append(cur, bucket{math.Inf(1), total})
	sort.Slice(cur, func(i, j int) bool { return cur[i].le < cur[j].le })
	prev := r.prevH[name]
	r.prevH[name] = cur
	if first || secs <= 0 {
		return
	}
	delta := make([]bucket, len(cur))
	for i, b := range cur {
		delta[i] = b
		for _, p := range prev {
			if p.le == b.le {
				delta[i].count = math.Max(0, b.count-p.count)
			}
		}
	}
	n := delta[len(delta)-1].count
	fields[name+"_rate"] = n / secs
	if n == 0 {
		return
	}
	fields[name+"_p50"] = quantile(0.5, delta)
	fields[name+"_p99"] = quantile(0.99, delta)
}

// quantile estimates q from cumulative buckets by linear interpolation
// inside the bucket that holds it, as Prometheus's histogram_quantile does;
// past the last finite bound it answers that bound.
func quantile(q float64, bs []bucket) float64 {
	n := bs[len(bs)-1].count
	rank := q * n
	lower, below := 0.0, 0.0
	for _, b := range bs {
		if b.count >= rank {
			if math.IsInf(b.le, 1) {
				return lower
			}
			if b.count == below {
				return b.le
			}
			return lower + (b.le-lower)*(rank-below)/(b.count-below)
		}
		lower, below = b.le, b.count
	}
	return lower
}

// Report starts a Reporter for reg when cfg.ElasticsearchURL is set (no
// Elasticsearch: nothing to do) and tracks it in wg; it flushes and stops
// when ctx ends.
func Report(ctx context.Context, wg *sync.WaitGroup, cfg ReporterConfig, reg prometheus.Gatherer) error {
	if cfg.ElasticsearchURL == "" {
		return nil
	}
	rep, err := NewReporter(cfg, reg)
	if err != nil {
		return err
	}
	wg.Go(func() { rep.Run(ctx, 3*time.Second) })
	return nil
}
