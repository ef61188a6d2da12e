package proxy

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/valyala/fasthttp"

	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/shared/trace"
)

const (
	// dialTimeout bounds a new connection to an instance.
	dialTimeout = 3 * time.Second
	// maxConnsPerInstance bounds the connections to one instance; past it a
	// request waits for one to free up, within its deadline.
	maxConnsPerInstance = 1024
	// idleConnTimeout closes a connection idle this long, well before the
	// services' own idle timeout (120 s) closes it from their side.
	idleConnTimeout = 60 * time.Second
	// maxResponseBytes bounds a service's answer held in memory; every
	// answer is a page of JSON, far below it.
	maxResponseBytes = 16 << 20
)

// newClient returns the connection pool to the instance at u.
func newClient(u *url.URL) *fasthttp.HostClient {
	addr := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		addr = net.JoinHostPort(u.Hostname(), port)
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	return &fasthttp.HostClient{
		Addr:  addr,
		IsTLS: u.Scheme == "https",
		Dial: func(addr string) (net.Conn, error) {
			c, err := dialer.Dial("tcp", addr)
			if err != nil || u.Scheme == "https" {
				// Over TLS, bytes may wait unread between requests (a
				// TLS 1.3 session ticket): no probe.
				return c, err
			}
			return &upstreamConn{Conn: c}, nil
		},
		MaxConns:            maxConnsPerInstance,
		MaxIdleConnDuration: idleConnTimeout,
		// A request waits for a connection within its own deadline.
		MaxConnWaitTimeout: time.Hour,
		// The only attempts fasthttp makes again are those that provably
		// never reached the service (a connection it had closed while
		// idle; a restart closes every idle one, so as many as there are);
		// every other retry is Forward's, within the budget.
		MaxIdemponentCallAttempts: maxConnsPerInstance + 1,
		RetryIfErr: func(_ *fasthttp.Request, _ int, err error) (bool, bool) {
			return false, errors.Is(err, errStaleConn)
		},
		MaxResponseBodySize: maxResponseBytes,
		ReadBufferSize:      16 << 10, // the longest response head accepted
		// The path goes out exactly as the client sent it (an encoded "/"
		// stays encoded), with no User-Agent the client did not send.
		DisablePathNormalizing:   true,
		NoDefaultUserAgentHeader: true,
	}
}

// errStaleConn is a kept-alive connection the service closed while it was
// idle (it restarted, or timed the connection out): found before the
// request was written, so sending it on another connection is safe for
// any method.
var errStaleConn = errors.New("kept-alive connection closed by the service while idle")

// upstreamConn is a connection to an instance that checks, before the
// first write of each request after the first, that the service has not
// closed it meanwhile (net/http's transport learns the same from its
// per-connection read loop).
type upstreamConn struct {
	net.Conn
	reused bool // a response was read: the next write starts another request
	probe  [1]byte
}

func (c *upstreamConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.reused = true
	}
	return n, err
}

func (c *upstreamConn) Write(b []byte) (int, error) {
	if c.reused {
		c.reused = false
		if c.closedByPeer() {
			return 0, errStaleConn
		}
	}
	return c.Conn.Write(b)
}

// closedByPeer peeks at the socket without blocking: an idle HTTP/1.1
// connection has nothing to read, so end of stream, an error or any byte
// (a TLS close alert, a 408) means the service is done with it.
func (c *upstreamConn) closedByPeer() bool {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	// The last request's read deadline has likely passed: without this the
	// peek would fail on it, unmade. The request's own deadline is set
	// after the write.
	_ = c.Conn.SetReadDeadline(time.Time{})
	closed := false
	if err := raw.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), c.probe[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		closed = !errors.Is(err, syscall.EAGAIN)
		return true // never wait for readability
	}); err != nil {
		return true
	}
	return closed
}

// address points req at the instance.
func (in *instance) address(req *fasthttp.Request) {
	req.URI().SetScheme(in.url.Scheme)
	req.URI().SetHost(in.url.Host)
	req.Header.SetHost(in.url.Host)
}

// readBody reads the whole request body (the router bounds it).
func readBody(r *http.Request) ([]byte, error) {
	if r.Body == nil || r.Body == http.NoBody {
		return nil, nil
	}
	if r.ContentLength > 0 {
		b := make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(r.Body)
}

// bodyProblem is the answer to a request body that could not be read.
func bodyProblem(err error) *problem.Problem {
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		return problem.ErrTooLarge.Wrap(err)
	}
	// As shared/jsonbody answers a body it cannot read.
	return problem.Validation(problem.FieldError{Field: "", Message: "body could not be read"}).Wrap(err)
}

// hopHeaders are per-connection headers (RFC 9110 §7.6.1), never passed on
// in either direction.
var hopHeaders = map[string]bool{
	"Connection": true, "Keep-Alive": true, "Proxy-Connection": true, "Te": true,
	"Trailer": true, "Transfer-Encoding": true, "Upgrade": true,
}

// buildRequest writes the outbound request into req: same method, path and
// query, the client's headers less every identity, forwarding, trace and
// per-connection header, and the gateway's own in their place. The target
// instance is set per attempt (address).
func buildRequest(req *fasthttp.Request, c *gin.Context, tok string, body []byte) {
	r := c.Request
	req.Header.SetNoDefaultContentType(true)
	req.Header.SetMethod(r.Method)
	uri := r.URL.EscapedPath()
	if r.URL.RawQuery != "" {
		uri += "?" + r.URL.RawQuery
	}
	req.SetRequestURI(uri)
	var connHeaders map[string]bool
	for _, v := range r.Header["Connection"] {
		connHeaders = connectionTokens(connHeaders, v)
	}
	for name, values := range r.Header {
		if hopHeaders[name] || connHeaders[name] || name == "Content-Length" || name == "Expect" || strippedHeader(name) {
			continue
		}
		for _, v := range values {
			req.Header.Add(name, v)
		}
	}
	if body != nil {
		req.SetBodyRaw(body)
	}
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("X-Forwarded-For", c.ClientIP())
	proto := "http"
	if r.TLS != nil {
		proto = "https"
	}
	req.Header.Set("X-Forwarded-Proto", proto)
	if tc, ok := trace.From(r.Context()); ok {
		req.Header.Set(trace.Header, tc.String())
	}
}

// connectionTokens adds to set the header names one Connection header
// value lists as per-connection, canonicalized, and returns set (made when
// first needed).
func connectionTokens(set map[string]bool, value string) map[string]bool {
	for name := range strings.SplitSeq(value, ",") {
		if name = strings.TrimSpace(name); name != "" {
			if set == nil {
				set = map[string]bool{}
			}
			set[http.CanonicalHeaderKey(name)] = true
		}
	}
	return set
}

// upstreamError turns a transport failure into the errors Forward and
// classify know, and a 5xx or 3xx answer into an UpstreamError so neither
// its body nor its Location reaches the client.
func upstreamError(err error, resp *fasthttp.Response) error {
	switch {
	case err == nil:
	case errors.Is(err, fasthttp.ErrTimeout):
		return fmt.Errorf("%w: %w", context.DeadlineExceeded, err)
	case errors.Is(err, fasthttp.ErrConnectionClosed), errors.Is(err, errStaleConn):
		return fmt.Errorf("%w: %w", io.EOF, err)
	default:
		return err
	}
	switch status := resp.StatusCode(); {
	case status >= 500:
		body := resp.Body()
		retry, _ := strconv.Atoi(string(resp.Header.Peek("Retry-After")))
		return &UpstreamError{Status: status, Body: string(body[:min(len(body), 2048)]), RetryAfter: max(0, retry)}
	case status/100 == 3:
		// No service redirects; one that does is misbehaving, and passing
		// its Location on would send the client to an internal address or
		// a route the gateway does not expose.
		return &UpstreamError{Status: status, Body: "redirect to " + string(resp.Header.Peek("Location"))}
	}
	return nil
}

// respond copies the service's answer to the client, through the route's
// hook if it has one. Cookies a service might set are dropped (the gateway
// alone manages cookies), and so are its trace-id echo (the gateway's own
// header is already set) and its Server-Timing: the client is told the
// service's time as the gateway measured it.
func respond(c *gin.Context, resp *fasthttp.Response, took time.Duration, hook ResponseHook) error {
	status, body := resp.StatusCode(), resp.Body()
	h := c.Writer.Header()
	if hook != nil {
		hr := &http.Response{StatusCode: status, Header: http.Header{}, Request: c.Request,
			Body: io.NopCloser(bytes.NewReader(body)), ContentLength: int64(len(body))}
		copyHeaders(hr.Header, &resp.Header)
		if err := hook(hr); err != nil {
			return err
		}
		b, err := io.ReadAll(hr.Body)
		if err != nil {
			return err
		}
		status, body = hr.StatusCode, b
		for name, values := range hr.Header {
			h[name] = append(h[name], values...)
		}
	} else {
		copyHeaders(h, &resp.Header)
	}
	h.Set(serverTiming, upstreamTiming(took))
	head := c.Request.Method == http.MethodHead
	if !head && status != http.StatusNoContent && status != http.StatusNotModified {
		h.Set("Content-Length", strconv.Itoa(len(body)))
	}
	c.Status(status)
	if head || len(body) == 0 {
		c.Writer.WriteHeaderNow()
		return nil
	}
	_, _ = c.Writer.Write(body) // a client gone by now is the request log's 2xx with a short write
	return nil
}

// copyHeaders adds the response headers of src that reach the client to
// dst.
func copyHeaders(dst http.Header, src *fasthttp.ResponseHeader) {
	var conn map[string]bool
	for _, v := range src.PeekAll("Connection") {
		conn = connectionTokens(conn, string(v))
	}
	for k, v := range src.All() {
		name := http.CanonicalHeaderKey(string(k))
		if hopHeaders[name] || conn[name] || name == "Content-Length" || name == "Set-Cookie" ||
			name == serverTiming || name == logging.TraceIDHeader {
			continue
		}
		dst[name] = append(dst[name], string(v))
	}
}
