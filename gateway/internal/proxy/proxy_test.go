package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"syscall"
	"testing"
)

func TestStrippedHeaders(t *testing.T) {
	for _, k := range []string{
		"Authorization", "Cookie", "X-User-Id", "x-user-role", "X-Parley-User", "X-Forwarded-For",
		"X-Forwarded-Proto", "Forwarded", "X-Real-Ip", "Traceparent", "X-Internal-Token", "X-Session-Id",
		"Proxy-Authorization", "Tracestate", "baggage", "cf-connecting-ip", "X-AUTH-USER",
	} {
		if !strippedHeader(k) { // any case, as a non-canonicalising client might send it
			t.Errorf("header %s would reach a service", k)
		}
	}
	for _, k := range []string{"Content-Type", "Accept-Language", "Idempotency-Key", "X-Request-Source", "If-None-Match"} {
		if strippedHeader(k) {
			t.Errorf("header %s would be dropped", k)
		}
	}
}

func TestClassify(t *testing.T) {
	const audience = "chat-service"
	tests := []struct {
		name string
		err  error
		want int
		code string // the problem code, when it matters
	}{
		{"deadline", fmt.Errorf("roundtrip: %w", context.DeadlineExceeded), http.StatusGatewayTimeout, ""},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), http.StatusServiceUnavailable, ""},
		{"body too large", &http.MaxBytesError{Limit: 1}, http.StatusRequestEntityTooLarge, ""},
		{"upstream 500", &UpstreamError{Status: 500}, http.StatusBadGateway, ""},
		{"upstream 503", &UpstreamError{Status: 503}, http.StatusServiceUnavailable, ""},
		{"upstream 503 with Retry-After", &UpstreamError{Status: 503, RetryAfter: 2}, http.StatusServiceUnavailable, "unavailable"},
		{"upstream 503 overloaded", &UpstreamError{Status: 503, RetryAfter: 1, Body: `{"status":503,"code":"overloaded","detail":"the service is busy, retry shortly"}`}, http.StatusServiceUnavailable, "overloaded"},
		{"upstream 503 with another code", &UpstreamError{Status: 503, RetryAfter: 1, Body: `{"status":503,"code":"db_down","detail":"postgres at 10.0.0.7"}`}, http.StatusServiceUnavailable, "unavailable"},
		{"upstream 504", &UpstreamError{Status: 504}, http.StatusGatewayTimeout, ""},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), http.StatusServiceUnavailable, ""},
		{"closed before answering", fmt.Errorf("roundtrip: %w", io.EOF), http.StatusServiceUnavailable, ""},
		{"cut mid-answer", fmt.Errorf("roundtrip: %w", io.ErrUnexpectedEOF), http.StatusServiceUnavailable, ""},
		{"anything else", errors.New("tls: bad certificate"), http.StatusBadGateway, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := classify(tc.err, audience)
			if p.Status != tc.want {
				t.Errorf("status %d, want %d", p.Status, tc.want)
			}
			if pub := p.Public("t"); tc.code != "" && pub.Code != tc.code {
				t.Errorf("code %q, want %q", pub.Code, tc.code)
			}
			var up *UpstreamError
			if errors.As(tc.err, &up) && p.RetryAfter != up.RetryAfter {
				t.Errorf("Retry-After %d, want the service's %d", p.RetryAfter, up.RetryAfter)
			}
			// A connection failure is retryable: the client must hear when.
			if !errors.As(tc.err, &up) && p.Status == http.StatusServiceUnavailable && p.RetryAfter < 1 {
				t.Errorf("503 for %v without Retry-After", tc.err)
			}
			if !errors.Is(p, tc.err) {
				t.Error("the cause is not kept for the log")
			}
		})
	}
}
