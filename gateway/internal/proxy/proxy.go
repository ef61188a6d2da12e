// Package proxy forwards public requests to the services behind the gateway:
// it replaces whatever identity the client sent with a freshly minted
// internal token, starts the service's hop of the trace, bounds every
// request by a deadline, and turns transport failures and upstream 5xx into
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
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/trace"
)

// Target is a service the gateway forwards to.
type Target struct {
	// Audience is the service's name, the aud of its internal tokens.
	Audience string
	// URL is the service's base URL; the public path is appended unchanged.
	URL *url.URL
}

// NewTarget parses base into a Target for audience.
func NewTarget(audience, base string) (Target, error) {
	u, err := url.Parse(base)
	if err != nil {
		return Target{}, fmt.Errorf("proxy: %s url: %w", audience, err)
	}
	u.Path, u.RawPath = strings.TrimRight(u.Path, "/"), ""
	return Target{Audience: audience, URL: u}, nil
}

// ResponseHook may inspect and rewrite a service's non-5xx response before
// it is copied to the client (the auth routes move tokens into cookies).
// An error it returns is answered like a failed upstream.
type ResponseHook func(*http.Response) error

// Proxy forwards requests to targets. It is safe for concurrent use.
type Proxy struct {
	rp      *httputil.ReverseProxy
	minter  *session.Minter
	timeout time.Duration
}

// New returns a proxy that signs with minter, sends through transport and
// gives every request at most timeout, response body included.
func New(minter *session.Minter, transport http.RoundTripper, timeout time.Duration) *Proxy {
	p := &Proxy{minter: minter, timeout: timeout}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      transport,
		ModifyResponse: modifyResponse,
		ErrorHandler:   recordError,
		// Failures are reported through problem.Write and the request log,
		// never through the standard logger.
		ErrorLog: log.New(io.Discard, "", 0),
		// Flush streamed responses promptly; a negative value would flush
		// after every write, which costs syscalls for ordinary JSON.
		FlushInterval: 100 * time.Millisecond,
	}
	return p
}

// NewTransport returns an http.Transport tuned for many concurrent requests
// to a few internal hosts: the default keeps only 2 idle connections per
// host, which under load means a new TCP handshake for most requests.
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
	}
}

// forward is one request's state, carried in its context from Forward to
// the ReverseProxy hooks.
type forward struct {
	target   Target
	token    string
	clientIP string
	proto    string
	hook     ResponseHook
	err      error
}

type forwardKey struct{}

// Forward sends the request in c to t on behalf of id (zero Identity:
// anonymous) and copies the answer back, or writes a problem when the
// service cannot be reached, is too slow or fails.
func (p *Proxy) Forward(c *gin.Context, t Target, id session.Identity, hook ResponseHook) {
	tok, err := p.minter.Mint(id, t.Audience)
	if err != nil {
		problem.Write(c, problem.ErrInternal.Wrap(fmt.Errorf("mint internal token: %w", err)))
		return
	}
	f := &forward{target: t, token: tok, clientIP: c.ClientIP(), proto: scheme(c.Request), hook: hook}
	ctx, cancel := context.WithTimeout(c.Request.Context(), p.timeout)
	defer cancel()
	ctx = context.WithValue(ctx, forwardKey{}, f)
	p.rp.ServeHTTP(c.Writer, c.Request.WithContext(ctx))
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
	problem.Write(c, classify(f.err, t))
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
	pr.SetURL(f.target.URL)
	pr.Out.Host = f.target.URL.Host
	h := pr.Out.Header
	StripClientHeaders(h)
	h.Set("Authorization", "Bearer "+f.token)
	h.Set("X-Forwarded-For", f.clientIP)
	h.Set("X-Forwarded-Proto", f.proto)
	if tc, ok := trace.From(pr.In.Context()); ok {
		h.Set(trace.Header, tc.String())
	}
}

// modifyResponse drops cookies a service might set (the gateway alone
// manages cookies) and its trace-id echo, turns a 5xx or a 3xx into an
// error so neither its body nor its Location reaches the client, and runs
// the route's hook.
func modifyResponse(resp *http.Response) error {
	resp.Header.Del("Set-Cookie")
	// The service continues the gateway's trace and echoes the same id;
	// the gateway's own header is already set.
	resp.Header.Del(logging.TraceIDHeader)
	switch {
	case resp.StatusCode >= 500:
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		_ = resp.Body.Close()
		return &UpstreamError{Status: resp.StatusCode, Body: string(body)}
	case resp.StatusCode/100 == 3:
		// No service redirects; one that does is misbehaving, and passing
		// its Location on would send the client to an internal address or
		// a route the gateway does not expose.
		_ = resp.Body.Close()
		return &UpstreamError{Status: resp.StatusCode, Body: "redirect to " + resp.Header.Get("Location")}
	}
	f, _ := resp.Request.Context().Value(forwardKey{}).(*forward)
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
