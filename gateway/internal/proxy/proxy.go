// Package proxy forwards public requests to the services behind the gateway:
// it replaces whatever identity the client sent with a freshly minted
// internal token, starts the service's hop of the trace, bounds every
// request by a deadline, spreads requests over a service's instances behind
// circuit breakers, retries connection failures of idempotent requests
// within a budget, tells the client the service's time (Server-Timing),
// and turns transport failures and upstream 5xx into
// problems that carry only the gateway's trace id; a service's redirect is
// never passed on.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/trace"
)

// ResponseHook may inspect and rewrite a service's non-5xx response before
// it is copied to the client (the auth routes move tokens into cookies).
// An error it returns is answered like a failed upstream.
type ResponseHook func(*http.Response) error

// Proxy forwards requests to targets. It is safe for concurrent use.
type Proxy struct {
	rp      *httputil.ReverseProxy
	minter  *session.Minter
	timeout time.Duration
	budget  *budget
	metrics edgeMetrics
}

// New returns a proxy that signs with minter, sends through transport,
// gives every request at most timeout (a Target's own Timeout wins),
// response body included, and retries within retry.
func New(minter *session.Minter, transport http.RoundTripper, timeout time.Duration, retry RetryBudget) *Proxy {
	p := &Proxy{minter: minter, timeout: timeout, budget: newBudget(retry), metrics: newEdgeMetrics()}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      transport,
		ModifyResponse: modifyResponse,
		ErrorHandler:   recordError,
		// Failures are reported through problem.Write and the request log,
		// never through the standard logger.
		ErrorLog: log.New(io.Discard, "", 0),
		// Responses of unknown length (streamed) are flushed as they come
		// (ReverseProxy does so for them whatever this says); the others
		// are written once, so no periodic flush timer per request.
		FlushInterval: 0,
		// One copy buffer per response otherwise (32 KB of garbage each).
		BufferPool: copyBuffers{},
	}
	return p
}

// copyBuffers recycles the buffers ReverseProxy copies bodies through.
type copyBuffers struct{}

var copyBufferPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Get implements httputil.BufferPool.
func (copyBuffers) Get() []byte { return *copyBufferPool.Get().(*[]byte) }

// Put implements httputil.BufferPool.
func (copyBuffers) Put(b []byte) { copyBufferPool.Put(&b) }

// NewTransport returns an http.Transport tuned for many concurrent requests
// to a few internal hosts: the default keeps only 2 idle connections per
// host, which under load means a new TCP handshake for most requests.
// timeout bounds the wait for response headers (the longest route timeout).
func NewTransport(timeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy: nil, // internal services are never reached through a proxy
		DialContext: (&net.Dialer{
			Timeout:   3 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		// Bodies pass through as the service sent them: no Accept-Encoding
		// added on the client's behalf, nothing decompressed here.
		DisableCompression: true,
	}
}

// forward is one attempt's state, carried in its context from Forward to
// the ReverseProxy hooks.
type forward struct {
	target   *url.URL
	audience string
	token    string
	clientIP string
	proto    string
	hook     ResponseHook
	start    time.Time // when the request was handed to the transport
	err      error
}

type forwardKey struct{}

// Forward sends the request in c to an instance of t on behalf of id (zero
// Identity: anonymous) and copies the answer back, or writes a problem when
// the service cannot be reached, is too slow or fails. An idempotent,
// bodiless request that meets a connection failure is sent once more, to
// another instance when there is one, if the retry budget allows; when
// every instance's breaker is open the answer is 503 at once, with
// Retry-After.
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
	ctx, cancel := context.WithTimeout(c.Request.Context(), timeout)
	defer cancel()
	p.budget.earn()
	canRetry := idempotent(c.Request.Method) && replayable(c.Request)
	clientIP, proto := c.ClientIP(), scheme(c.Request)
	var tried map[*instance]bool
	var f *forward
	for attempt := 0; ; attempt++ {
		in, done, err := t.pool.pick(t.Audience, tried)
		if err != nil {
			var open *ErrOpen
			errors.As(err, &open)
			pr := problem.ErrUnavailable.Wrap(err)
			pr.RetryAfter = open.RetryAfterSeconds()
			p.metrics.unavailable.WithLabelValues(t.Audience).Inc()
			problem.Write(c, pr)
			return
		}
		f = &forward{target: in.url, audience: t.Audience, token: tok, clientIP: clientIP, proto: proto, hook: hook}
		p.rp.ServeHTTP(c.Writer, c.Request.WithContext(context.WithValue(ctx, forwardKey{}, f)))
		done(f.breakerOutcome())
		if f.err == nil || attempt >= maxRetries || !canRetry || !connectionFailure(f.err) ||
			c.Writer.Written() || ctx.Err() != nil || !p.budget.spend() {
			break
		}
		if tried == nil {
			tried = map[*instance]bool{}
		}
		tried[in] = true
		p.metrics.retries.WithLabelValues(t.Audience).Inc()
	}
	if f.err == nil {
		return
	}
	if errors.Is(f.err, context.Canceled) && c.Request.Context().Err() != nil {
		// The client went away; nobody reads an answer. 499 is nginx's
		// "client closed request", useful in the request log.
		_ = c.Error(f.err)
		c.AbortWithStatus(499)
		return
	}
	if c.Writer.Written() {
		_ = c.Error(f.err)
		c.Abort()
		return
	}
	if !f.start.IsZero() {
		c.Header(serverTiming, upstreamTiming(time.Since(f.start)))
	}
	problem.Write(c, classify(f.err, t.Audience))
}

// maxRetries is how many times one request may be sent again.
const maxRetries = 1

// breakerOutcome is what the attempt tells the instance's breaker: nil
// when the instance answered (a 4xx included), the error when it could not
// be reached, was too slow or answered 502 or 504. A 503 is the service
// shedding load with its own Retry-After, alive and answering: it does not
// eject the instance. A client that went away is context.Canceled, which
// the breaker ignores.
func (f *forward) breakerOutcome() error {
	var up *UpstreamError
	switch {
	case f.err == nil:
		return nil
	case errors.Is(f.err, context.Canceled),
		connectionFailure(f.err), errors.Is(f.err, context.DeadlineExceeded):
		return f.err
	case errors.As(f.err, &up):
		if up.Status == http.StatusBadGateway || up.Status == http.StatusGatewayTimeout {
			return f.err
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

func scheme(r *http.Request) string {
	if r.TLS != nil {
		return "https"
	}
	return "http"
}

// rewrite builds the outbound request: same path and query on the target,
// every client-supplied identity, forwarding and trace header dropped, and
// the gateway's own put in their place.
func rewrite(pr *httputil.ProxyRequest) {
	f := pr.In.Context().Value(forwardKey{}).(*forward)
	pr.SetURL(f.target)
	pr.Out.Host = f.target.Host
	h := pr.Out.Header
	StripClientHeaders(h)
	h.Set("Authorization", "Bearer "+f.token)
	h.Set("X-Forwarded-For", f.clientIP)
	h.Set("X-Forwarded-Proto", f.proto)
	if tc, ok := trace.From(pr.In.Context()); ok {
		h.Set(trace.Header, tc.String())
	}
	f.start = time.Now()
}

// modifyResponse drops cookies a service might set (the gateway alone
// manages cookies) and its trace-id echo, turns a 5xx or a 3xx into an
// error so neither its body nor its Location reaches the client, and runs
// the route's hook.
func modifyResponse(resp *http.Response) error {
	f, _ := resp.Request.Context().Value(forwardKey{}).(*forward)
	resp.Header.Del("Set-Cookie")
	if f != nil {
		// The service's own Server-Timing (if any) is internal detail.
		resp.Header.Set(serverTiming, upstreamTiming(time.Since(f.start)))
	}
	// The service continues the gateway's trace and echoes the same id;
	// the gateway's own header is already set.
	resp.Header.Del(logging.TraceIDHeader)
	switch {
	case resp.StatusCode >= 500:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		_ = resp.Body.Close()
		retry, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &UpstreamError{Status: resp.StatusCode, Body: string(body), RetryAfter: max(0, retry)}
	case resp.StatusCode/100 == 3:
		// No service redirects; one that does is misbehaving, and passing
		// its Location on would send the client to an internal address or
		// a route the gateway does not expose.
		_ = resp.Body.Close()
		return &UpstreamError{Status: resp.StatusCode, Body: "redirect to " + resp.Header.Get("Location")}
	}
	if f != nil && f.hook != nil {
		return f.hook(resp)
	}
	return nil
}

// recordError keeps the error for Forward, which writes the problem through
// the one error writer once ServeHTTP has returned.
func recordError(_ http.ResponseWriter, r *http.Request, err error) {
	if f, ok := r.Context().Value(forwardKey{}).(*forward); ok {
		f.err = err
	}
}
