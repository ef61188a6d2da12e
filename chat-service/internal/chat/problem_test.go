package chat_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/problem"
)

func TestProblem(t *testing.T) {
	cases := []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter int
	}{
		{"validation", chat.Invalid(chat.FieldError{Field: "body", Message: "is required"}), 400, "validation_failed", 0},
		{"not found, wrapped", fmt.Errorf("loading: %w", chat.ErrNotFound), 404, "not_found", 0},
		{"forbidden", chat.ErrForbidden, 403, "forbidden", 0},
		{"not author", chat.ErrNotAuthor, 403, "not_author", 0},
		{"conflict", chat.ErrDirectFixed, 409, "direct_conversation", 0},
		{"rate limited rounds up", &chat.Error{Kind: chat.KindRateLimited, Code: "rate_limited", RetryAfter: 1200 * time.Millisecond}, 429, "rate_limited", 2},
		{"rate limited at least 1s", &chat.Error{Kind: chat.KindRateLimited, Code: "rate_limited", RetryAfter: time.Millisecond}, 429, "rate_limited", 1},
		{"overloaded", chat.ErrOverloaded, 503, "overloaded", 1},
		{"one user's commands pile up", chat.ErrTooManyCommands, 429, "too_many_commands", 1},
		{"problem passes through", problem.ErrTooLarge, 413, "body_too_large", 0},
		{"cancelled", context.Canceled, 503, "unavailable", 0},
		{"database restarting", fmt.Errorf("write sends: %w", &pgconn.PgError{Code: "57P01", Message: "terminating connection due to administrator command"}), 503, "unavailable", 1},
		{"database refusing connections", &pgconn.PgError{Code: "57P03", Message: "the database system is starting up"}, 503, "unavailable", 1},
		{"a statement that fails", &pgconn.PgError{Code: "23505", Message: "duplicate key"}, 500, "internal", 0},
		{"anything else", errors.New("db exploded"), 500, "internal", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := chat.Problem(tc.err)
			if p.Status != tc.status || p.Code != tc.code || p.RetryAfter != tc.retryAfter {
				t.Errorf("Problem = %d %s retry %d, want %d %s retry %d", p.Status, p.Code, p.RetryAfter, tc.status, tc.code, tc.retryAfter)
			}
		})
	}
	p := chat.Problem(chat.Invalid(chat.FieldError{Field: "body", Message: "is required"}))
	if len(p.Errors) != 1 || p.Errors[0].Field != "body" {
		t.Errorf("field errors = %+v, want body", p.Errors)
	}
	if pub := chat.Problem(errors.New("secret detail")).Public("t1"); pub.Detail == "secret detail" || pub.TraceID != "t1" {
		t.Errorf("public 500 = %+v, leaks the cause or lacks the trace id", pub)
	}
}
