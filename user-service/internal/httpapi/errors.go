package httpapi

import (
	"errors"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/shared/pgdb"
	"github.com/parleychat/parley/shared/problem"
	"github.com/parleychat/parley/user-service/internal/users"
)

// Problems specific to user-service.
var (
	// errProfileNotReady: the account exists but auth.user.registered.v1
	// has not been consumed yet (moments after signup, or while RabbitMQ is
	// down). Clients retry after Retry-After.
	errProfileNotReady = func() *problem.Problem {
		p := problem.New(http.StatusNotFound, "profile_not_ready", "your profile is being created; retry in a moment")
		p.RetryAfter = 1
		return p
	}()
)

// writeError is user-service's one mapping from errors to problems;
// anything unrecognised becomes a 500 whose cause is logged, not sent.
func writeError(c *gin.Context, err error) {
	var (
		p       *problem.Problem
		invalid *users.InvalidError
	)
	switch {
	case errors.As(err, &p):
	case errors.As(err, &invalid):
		fields := make([]problem.FieldError, len(invalid.Fields))
		for i, f := range invalid.Fields {
			fields[i] = problem.FieldError{Field: f.Field, Message: f.Message}
		}
		p = problem.Validation(fields...)
	case errors.Is(err, users.ErrProfileNotReady):
		p = errProfileNotReady
	case errors.Is(err, users.ErrNotFound):
		p = problem.ErrNotFound
	case errors.Is(err, users.ErrUnauthenticated):
		p = problem.ErrUnauthorized
	case c.Request.Context().Err() != nil && errors.Is(err, c.Request.Context().Err()):
		// The gateway gave up; nobody reads this answer.
		p = problem.ErrUnavailable.Wrap(err)
	case pgdb.Unavailable(err):
		// PostgreSQL restarting or out of reach: retry in a second.
		p = problem.RetryLater(err)
	default:
		p = problem.ErrInternal.Wrap(err)
	}
	problem.Write(c, p)
}
