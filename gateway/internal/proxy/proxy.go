// Package proxy forwards public requests to the services behind the gateway:
// it replaces whatever identity the client sent with a freshly minted
// internal token, starts the service's hop of the trace, bounds every
// request by a deadline, spreads requests over a service's instances behind
// circuit breakers, retries connection failures of idempotent requests
// within a budget, tells the client the service's time (Server-Timing),
// and turns transport failures and upstream 5xx into
// problems that carry only the gateway's trace id; a service's redirect is
// never passed on. The exchange with a service is HTTP/1.1 over a
// fasthttp client per instance (upstream.go).
package proxy

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/valyala/fasthttp"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/problem"
)

// ResponseHook may inspect and rewrite a service's non-5xx response before
// it is copied to the client (the auth routes move tokens into cookies).
// The response's Body holds the whole answer. An error it returns is
// answered like a failed upstream.
type ResponseHook func(*http.Response) error

// Proxy forwards requests to targets. It is safe for concurrent use.
type Proxy struct {
	minter  *session.Minter
	timeout time.Duration
	budget  *budget
	metrics edgeMetrics
}

// New returns a proxy that signs with minter, gives every request at most
// timeout (a Target's own Timeout wins), response body included, and
// retries within retry. Each target instance's connections are its own
// (see NewTarget).
func New(minter *session.Minter, timeout time.Duration, retry RetryBudget) *Proxy {
	return &Proxy{minter: minter, timeout: timeout, budget: newBudget(retry), metrics: newEdgeMetrics()}
}

// NewTransport returns an http.Transport for the gateway's own calls to
// the services (the revocation snapshot, readiness checks), tuned like
// the proxy's connections: a few internal hosts, many idle connections
// kept. timeout bounds the wait for response headers.
func NewTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: nil, // internal services are never reached through a proxy
		DialContext: (&net.Dialer{
			Timeout:   dialTimeout,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		// Bodies are read as the service sent them: no Accept-Encoding
		// added, nothing decompressed here.
		DisableCompression: true,
	}
}

// Forward sends the request in c to an instance of t on behalf of id (zero
// Identity: anonymous) and copies the answer back, or writes a problem when
// the service cannot be reached, is too slow or fails. The request body
// (bounded by the router's body limit) is read first, so an attempt is
// sent whole. An idempotent request that meets a connection failure is
// sent once more, to another instance when there is one, if the retry
// budget allows; when every instance's breaker is open the answer is 503
// at once, with Retry-After.
//
// The exchange with the service is HTTP/1.1 on kept-alive connections,
// done in the calling goroutine (fasthttp): no per-connection read and
// write loops, no per-request copy of the header map. A client that goes
// away does not cut the service's request short; the deadline does.
func (p *Proxy) Forward(c *gin.Context, t Target, id session.Identity, hook ResponseHook) {
	tok, err := p.minter.Mint(id, t.Audience)
	if err != nil {
		problem.Write(c, problem.ErrInternal.Wrap(fmt.Errorf("mint internal token: %w", err)))
		return
	}
	timeout := p.timeout
	if t.Timeout > 0 {
		timeout = t.Timeout
	}
	deadline := time.Now().Add(timeout)
	p.budget.earn()
	body, err := readBody(c.Request)
	if err != nil {
		problem.Write(c, bodyProblem(err))
		return
	}
	req, resp := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
	defer fasthttp.ReleaseRequest(req)
	defer fasthttp.ReleaseResponse(resp)
	buildRequest(req, c, tok, body)
	resp.Header.SetNoDefaultContentType(true)
	canRetry := idempotent(c.Request.Method)
	var tried map[*instance]bool
	var start time.Time
	for attempt := 0; ; attempt++ {
		in, done, perr := t.pool.pick(t.Audience, tried)
		if perr != nil {
			var open *ErrOpen
			errors.As(perr, &open)
			pr := problem.ErrUnavailable.Wrap(perr)
			pr.RetryAfter = open.RetryAfterSeconds()
			p.metrics.unavailable.WithLabelValues(t.Audience).Inc()
			problem.Write(c, pr)
			return
		}
		in.address(req)
		start = time.Now()
		err = upstreamError(in.client.DoDeadline(req, resp, deadline), resp)
		done(breakerOutcome(err))
		if err == nil || attempt >= maxRetries || !canRetry || !connectionFailure(err) ||
			!time.Now().Before(deadline) || c.Request.Context().Err() != nil || !p.budget.spend() {
			break
		}
		if tried == nil {
			tried = map[*instance]bool{}
		}
		tried[in] = true
		p.metrics.retries.WithLabelValues(t.Audience).Inc()
	}
	if err == nil {
		err = respond(c, resp, time.Since(start), hook)
		if err == nil {
			return
		}
	}
	if c.Request.Context().Err() != nil {
		// The client went away; nobody reads an answer. 499 is nginx's
		// "client closed request", useful in the request log.
		_ = c.Error(err)
		c.AbortWithStatus(499)
		return
	}
	c.Header(serverTiming, upstreamTiming(time.Since(start)))
	problem.Write(c, classify(err, t.Audience))
}

// maxRetries is how many times one request may be sent again.
const maxRetries = 1

// breakerOutcome is what the attempt tells the instance's breaker: nil
// when the instance answered (a 4xx included), the error when it could not
// be reached, was too slow or answered 502 or 504. A 503 is the service
// shedding load with its own Retry-After, alive and answering: it does not
// eject the instance.
func breakerOutcome(err error) error {
	var up *UpstreamError
	switch {
	case err == nil:
		return nil
	case connectionFailure(err), errors.Is(err, context.DeadlineExceeded):
		return err
	case errors.As(err, &up):
		if up.Status == http.StatusBadGateway || up.Status == http.StatusGatewayTimeout {
			return err
		}
	}
	return nil
}

// serverTiming is the response header that tells a client how long the
// service behind the gateway took (W3C Server Timing).
const serverTiming = "Server-Timing"

// upstreamTiming formats d as the Server-Timing metric "upstream", in
// milliseconds.
func upstreamTiming(d time.Duration) string {
	b := make([]byte, 0, 32)
	b = append(b, "upstream;dur="...)
	b = strconv.AppendFloat(b, float64(d.Microseconds())/1000, 'f', 1, 64)
	return string(b)
}
