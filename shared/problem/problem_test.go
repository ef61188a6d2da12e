package problem_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/shared/problem"
)

func TestPublic(t *testing.T) {
	cause := errors.New("pq: connection refused to 10.0.0.7")
	withRetry := func(p *problem.Problem, secs int) *problem.Problem {
		c := *p
		c.RetryAfter = secs
		return &c
	}
	tests := []struct {
		name string
		in   *problem.Problem
		want problem.Problem
	}{
		{
			name: "4xx unchanged except the trace id",
			in:   problem.Validation(problem.FieldError{Field: "email", Message: "required"}).Wrap(cause),
			want: problem.Problem{
				Type: "https://parley.chat/problems/validation_failed", Title: "Bad Request", Status: 400,
				Detail: "one or more fields are invalid", Code: "validation_failed", TraceID: "trace-1",
				Errors: []problem.FieldError{{Field: "email", Message: "required"}},
			},
		},
		{
			name: "429 keeps RetryAfter",
			in:   withRetry(problem.ErrTooManyRequests, 30),
			want: problem.Problem{
				Type: "https://parley.chat/problems/rate_limited", Title: "Too Many Requests", Status: 429,
				Detail: "too many requests, retry later", Code: "rate_limited", TraceID: "trace-1", RetryAfter: 30,
			},
		},
		{
			name: "500 with a specific code becomes the generic internal problem",
			in: problem.New(http.StatusInternalServerError, "db_down", "postgres at 10.0.0.7 refused").
				WithFields(problem.FieldError{Field: "x", Message: "y"}).Wrap(cause),
			want: problem.Problem{
				Type: "https://parley.chat/problems/internal", Title: "Internal Server Error", Status: 500,
				Detail: problem.ErrInternal.Detail, Code: "internal", TraceID: "trace-1",
			},
		},
		{
			name: "503 overloaded kept whole: its code is the contract",
			in:   withRetry(problem.ErrOverloaded.Wrap(cause), 1),
			want: problem.Problem{
				Type: "https://parley.chat/problems/overloaded", Title: "Service Unavailable", Status: 503,
				Detail: "the service is busy, retry shortly", Code: "overloaded", TraceID: "trace-1", RetryAfter: 1,
			},
		},
		{
			name: "503 stripped to generic detail, RetryAfter kept",
			in:   withRetry(problem.New(http.StatusServiceUnavailable, "revocations_loading", "waiting for auth-service at 10.0.0.8"), 2),
			want: problem.Problem{
				Type: "https://parley.chat/problems/unavailable", Title: "Service Unavailable", Status: 503,
				Detail: problem.ErrUnavailable.Detail, Code: "unavailable", TraceID: "trace-1", RetryAfter: 2,
			},
		},
		{
			name: "502 stripped to bad_gateway",
			in:   problem.ErrBadGateway.Wrap(cause),
			want: problem.Problem{
				Type: "https://parley.chat/problems/bad_gateway", Title: "Bad Gateway", Status: 502,
				Detail: problem.ErrBadGateway.Detail, Code: "bad_gateway", TraceID: "trace-1",
			},
		},
		{
			name: "504 stripped to gateway_timeout, RetryAfter kept",
			in:   withRetry(problem.New(http.StatusGatewayTimeout, "slow_upstream", "chat-service took 31s"), 5),
			want: problem.Problem{
				Type: "https://parley.chat/problems/gateway_timeout", Title: "Gateway Timeout", Status: 504,
				Detail: problem.ErrGatewayTimeout.Detail, Code: "gateway_timeout", TraceID: "trace-1", RetryAfter: 5,
			},
		},
		{
			name: "other 5xx keeps its status with the internal code",
			in:   problem.New(http.StatusNotImplemented, "todo", "not built yet"),
			want: problem.Problem{
				Type: "https://parley.chat/problems/internal", Title: "Not Implemented", Status: 501,
				Detail: problem.ErrInternal.Detail, Code: "internal", TraceID: "trace-1",
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := *tc.in
			got := tc.in.Public("trace-1")
			if errors.Unwrap(got) != nil {
				t.Errorf("Public kept the cause %v", errors.Unwrap(got))
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("Public =\n %+v\nwant\n %+v", *got, tc.want)
			}
			if !reflect.DeepEqual(*tc.in, before) {
				t.Errorf("Public modified its receiver: %+v, was %+v", *tc.in, before)
			}
		})
	}
}

func TestWriteRetryAfter(t *testing.T) {
	gin.SetMode(gin.TestMode)
	tests := []struct {
		name       string
		err        error
		wantStatus int
		wantHeader string
	}{
		{"503 with RetryAfter", &problem.Problem{Type: "x", Status: 503, Code: "loading", Detail: "secret", RetryAfter: 2}, 503, "2"},
		{"503 without RetryAfter", problem.ErrUnavailable, 503, ""},
		{"429 with RetryAfter", &problem.Problem{Type: "x", Status: 429, Code: "rate_limited", RetryAfter: 9}, 429, "9"},
		{"plain error is a 500", errors.New("boom"), 500, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodGet, "/", nil)
			problem.Write(c, tc.err)
			if w.Code != tc.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tc.wantStatus)
			}
			if got := w.Header().Get("Retry-After"); got != tc.wantHeader {
				t.Errorf("Retry-After %q, want %q", got, tc.wantHeader)
			}
			var body map[string]any
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body.String(), err)
			}
			if tc.wantStatus >= 500 && body["detail"] == "secret" {
				t.Errorf("5xx body leaked the detail: %v", body)
			}
		})
	}
}
