package proxy

import (
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
)

// RetryBudget bounds retries to a share of the traffic, so that when an
// upstream is failing the gateway does not multiply the load on it: every
// forwarded request earns Ratio of a retry, a retry spends one, and at
// most Max are saved up (so a quiet gateway may still retry its first few
// failures).
type RetryBudget struct {
	// Ratio is the retries earned per request (0.1: at most one retry for
	// every ten requests, over time); 0: no retries at all.
	Ratio float64
	// Max is the most retries that can be saved up; 0: DefaultRetryBudget's.
	Max float64
}

// DefaultRetryBudget is used for the zero RetryBudget's fields.
var DefaultRetryBudget = RetryBudget{Ratio: 0.1, Max: 10}

// budget is RetryBudget's running state.
type budget struct {
	ratio, max float64
	mu         sync.Mutex
	tokens     float64
}

func newBudget(b RetryBudget) *budget {
	if b.Ratio <= 0 {
		return &budget{} // never a token to spend
	}
	if b.Max <= 0 {
		b.Max = DefaultRetryBudget.Max
	}
	return &budget{ratio: b.Ratio, max: b.Max, tokens: b.Max}
}

// earn credits one forwarded request.
func (b *budget) earn() {
	b.mu.Lock()
	b.tokens = min(b.max, b.tokens+b.ratio)
	b.mu.Unlock()
}

// spend takes one retry from the budget, reporting whether there was one.
func (b *budget) spend() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// idempotent methods may be sent twice with the effect of once (RFC 9110
// §9.2.2). POST and PATCH are never retried by the gateway.
func idempotent(method string) bool {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// connectionFailure reports whether err means the instance could not be
// reached or dropped the connection before answering: nothing listens, the
// dial timed out, or the connection was reset or closed with no response.
// A timeout waiting for an answer is not one: the request may be running.
func connectionFailure(err error) bool {
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return true
	}
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
