package proxy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"slices"
	"strings"

	"github.com/parleychat/parley/shared/problem"
)

// UpstreamError is a service's 5xx or 3xx answer; its body (or, for a
// redirect, its Location) is logged, never sent.
type UpstreamError struct {
	Status int
	Body   string
	// RetryAfter is the service's Retry-After in seconds (0: none): a
	// service refusing work it cannot start soon (503) says when to come
	// back, and the client must hear it (DESIGN §9).
	RetryAfter int
}

// code is the problem code in the service's body, if it has one.
func (e *UpstreamError) code() string {
	var body struct{ Code string }
	_ = json.Unmarshal([]byte(e.Body), &body)
	return body.Code
}

// Error implements error.
func (e *UpstreamError) Error() string {
	return fmt.Sprintf("upstream answered %d: %s", e.Status, e.Body)
}

// classify maps a forwarding failure to the problem the client gets. The
// cause is wrapped so the request log (and Elasticsearch) records it.
func classify(err error, audience string) *problem.Problem {
	err = fmt.Errorf("%s: %w", audience, err)
	var tooLarge *http.MaxBytesError
	var up *UpstreamError
	switch {
	case errors.As(err, &tooLarge):
		return problem.ErrTooLarge.Wrap(err)
	case errors.Is(err, context.DeadlineExceeded):
		return problem.ErrGatewayTimeout.Wrap(err)
	case connectionFailure(err):
		// Nothing listens, or the service closed a kept-alive connection
		// before answering: it is down or restarting, and the client may
		// retry (every mutating call is idempotent by key or by nature),
		// and Retry-After tells it so: a POST or PATCH the gateway does not
		// send again itself (an instance restarting in a rolling upgrade)
		// is then resent by the client.
		p := problem.ErrUnavailable.Wrap(err)
		p.RetryAfter = 1
		return p
	case errors.As(err, &up):
		switch up.Status {
		case http.StatusServiceUnavailable:
			// A service refusing work it cannot start soon says so with
			// code overloaded, which clients act on (DESIGN §9); any other
			// 503 stays the generic unavailable.
			p := problem.ErrUnavailable.Wrap(err)
			if up.code() == problem.CodeOverloaded {
				p = problem.ErrOverloaded.Wrap(err)
			}
			p.RetryAfter = up.RetryAfter
			return p
		case http.StatusGatewayTimeout:
			return problem.ErrGatewayTimeout.Wrap(err)
		}
		return problem.ErrBadGateway.Wrap(err)
	default:
		return problem.ErrBadGateway.Wrap(err)
	}
}

// strippedHeaders are request headers a client could use to claim an
// identity, a session, a client address or a trace; services must only ever
// see the gateway's own.
var strippedHeaders = []string{
	"Authorization", "Proxy-Authorization", "Cookie", "Forwarded",
	"X-Real-Ip", "X-Client-Ip", "True-Client-Ip", "Cf-Connecting-Ip",
	"Traceparent", "Tracestate", "Baggage",
}

// strippedPrefixes cover whole families of internal or identity headers.
var strippedPrefixes = []string{
	"X-Forwarded-", "X-Parley-", "X-User-", "X-Internal-", "X-Auth-", "X-Session-",
}

// strippedHeader reports whether the header name (in any case) is one a
// client must never pass to a service.
func strippedHeader(name string) bool {
	canon := textproto.CanonicalMIMEHeaderKey(name)
	if slices.Contains(strippedHeaders, canon) {
		return true
	}
	for _, p := range strippedPrefixes {
		if strings.HasPrefix(canon, p) {
			return true
		}
	}
	return false
}
