package proxy

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/sony/gobreaker/v2"
	"github.com/valyala/fasthttp"
)

// Breaker tunes the circuit breaker each upstream instance has.
type Breaker struct {
	// Failures is how many consecutive failures (connection failures,
	// timeouts, 502 or 504) open an instance's breaker; 0: DefaultBreaker's.
	Failures int
	// Open is how long an open breaker refuses requests before one probe
	// is let through; 0: DefaultBreaker's.
	Open time.Duration
}

// DefaultBreaker is used for the zero Breaker's fields.
var DefaultBreaker = Breaker{Failures: 5, Open: 5 * time.Second}

// Target is a service the gateway forwards to: one or more instances, each
// behind its own circuit breaker. A Target is a small value; copies share
// the instances and their breakers, so a route can carry its own timeout
// (WithTimeout) over the same upstream.
type Target struct {
	// Audience is the service's name, the aud of its internal tokens.
	Audience string
	// Timeout, when positive, bounds a forwarded request on this route,
	// response body included, instead of the proxy's default.
	Timeout time.Duration
	pool    *pool
}

// NewTarget returns a Target for audience over the instances at bases
// (each a base URL; the public path is appended unchanged), every one with
// a breaker tuned by b.
func NewTarget(audience string, bases []string, b Breaker) (Target, error) {
	if len(bases) == 0 {
		return Target{}, fmt.Errorf("proxy: %s: no instance url", audience)
	}
	if b.Failures <= 0 {
		b.Failures = DefaultBreaker.Failures
	}
	if b.Open <= 0 {
		b.Open = DefaultBreaker.Open
	}
	p := &pool{open: b.Open}
	for _, base := range bases {
		u, err := url.Parse(strings.TrimSpace(base))
		if err != nil || u.Host == "" {
			return Target{}, fmt.Errorf("proxy: %s url %q: want an absolute URL", audience, base)
		}
		u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), ""
		p.instances = append(p.instances, newInstance(u, audience, b))
	}
	return Target{Audience: audience, pool: p}, nil
}

// WithTimeout returns t with a route-specific timeout.
func (t Target) WithTimeout(d time.Duration) Target {
	t.Timeout = d
	return t
}

// URLs returns the instances' base URLs, in configuration order.
func (t Target) URLs() []*url.URL {
	out := make([]*url.URL, len(t.pool.instances))
	for i, in := range t.pool.instances {
		out[i] = in.url
	}
	return out
}

// pool is a target's instances; requests go round-robin over those whose
// breaker lets them through, so a failing instance is ejected until its
// probe succeeds (outlier ejection), and when every instance is ejected
// the target answers 503 at once (the upstream's breaker is open).
type pool struct {
	instances []*instance
	next      atomic.Uint64
	open      time.Duration
}

// instance is one upstream address with its breaker.
type instance struct {
	url      *url.URL
	client   *fasthttp.HostClient // its connections
	breaker  *gobreaker.TwoStepCircuitBreaker[struct{}]
	openedAt atomic.Int64 // unix nanoseconds of the last trip to open
	trips    atomic.Int64 // times the breaker opened
}

func newInstance(u *url.URL, audience string, b Breaker) *instance {
	in := &instance{url: u, client: newClient(u)}
	failures := uint32(b.Failures)
	in.breaker = gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        audience + " " + u.Host,
		MaxRequests: 1, // one probe while half-open
		Timeout:     b.Open,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= failures },
		OnStateChange: func(_ string, _, to gobreaker.State) {
			if to == gobreaker.StateOpen {
				in.openedAt.Store(time.Now().UnixNano())
				in.trips.Add(1)
			}
		},
		// A client that went away says nothing about the instance.
		IsExcluded: func(err error) bool { return errors.Is(err, context.Canceled) },
	})
	return in
}

// ErrOpen is returned by pick when every instance's breaker is open; its
// RetryAfter says when the first one will be probed again.
type ErrOpen struct {
	Audience   string
	RetryAfter time.Duration
}

// Error implements error.
func (e *ErrOpen) Error() string {
	return fmt.Sprintf("%s: circuit open on every instance; next probe in %s", e.Audience, e.RetryAfter.Round(time.Millisecond))
}

// RetryAfterSeconds is RetryAfter rounded up to whole seconds, at least 1.
func (e *ErrOpen) RetryAfterSeconds() int {
	return max(1, int(math.Ceil(e.RetryAfter.Seconds())))
}

// pick returns an instance whose breaker admits a request, starting the
// round-robin after skip tried instances, and the function that reports
// the request's outcome to that breaker.
func (p *pool) pick(audience string, skip map[*instance]bool) (*instance, func(error), error) {
	n := uint64(len(p.instances))
	start := p.next.Add(1)
	var wait time.Duration = -1
	for pass := range 2 {
		for i := range n {
			in := p.instances[(start+i)%n]
			if pass == 0 && skip[in] {
				continue // rather another instance than the one that just failed
			}
			done, err := in.breaker.Allow()
			if err == nil {
				return in, done, nil
			}
			if w := in.untilProbe(p.open); wait < 0 || w < wait {
				wait = w
			}
		}
		if len(skip) == 0 {
			break
		}
	}
	return nil, nil, &ErrOpen{Audience: audience, RetryAfter: max(wait, 0)}
}

// untilProbe is how long until the open breaker lets a probe through (0 if
// it is half-open with its probe already in flight).
func (in *instance) untilProbe(open time.Duration) time.Duration {
	at := in.openedAt.Load()
	if at == 0 {
		return 0
	}
	return max(0, time.Until(time.Unix(0, at).Add(open)))
}
