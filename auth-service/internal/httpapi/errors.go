package httpapi

import (
	"errors"
	"math"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/shared/pgdb"
	"github.com/parleychat/parley/shared/problem"
)

// Problems specific to auth-service.
var (
	errInvalidCredentials = problem.New(http.StatusUnauthorized, "invalid_credentials",
		"the login or the password is incorrect")
	errInvalidRefresh = problem.New(http.StatusUnauthorized, "invalid_refresh_token",
		"the refresh token is invalid or expired; sign in again")
	errRefreshReused = problem.New(http.StatusUnauthorized, "refresh_token_reused",
		"the refresh token was already used; the session has been ended, sign in again")
	errWrongPassword = problem.New(http.StatusForbidden, "wrong_password",
		"the current password is incorrect").WithFields(problem.FieldError{Field: "currentPassword", Message: "is incorrect"})
	errTooManyAttempts = problem.New(http.StatusTooManyRequests, "too_many_attempts",
		"too many failed attempts; retry later")
	errTooManySignups = problem.New(http.StatusTooManyRequests, "too_many_signups",
		"too many accounts were created from this address; retry later")
)

// writeError is auth-service's one mapping from domain errors to problems.
// Anything unrecognised becomes a 500 whose cause is logged, not sent.
func writeError(c *gin.Context, err error) {
	var (
		p         *problem.Problem
		invalid   *auth.InvalidError
		conflict  *auth.ConflictError
		throttled *auth.ThrottledError
	)
	switch {
	case errors.As(err, &p):
	case errors.As(err, &invalid):
		p = problem.Validation(fields(invalid.Fields)...)
	case errors.As(err, &conflict):
		p = problem.ErrConflict.WithFields(fields(conflict.Fields)...)
	case errors.As(err, &throttled):
		p = errTooManyAttempts.Wrap(err)
		if throttled.Signups {
			p = errTooManySignups.Wrap(err)
		}
		p.RetryAfter = max(1, int(math.Ceil(throttled.RetryAfter.Seconds())))
	case errors.Is(err, auth.ErrInvalidCredentials):
		p = errInvalidCredentials
	case errors.Is(err, auth.ErrWrongPassword):
		p = errWrongPassword
	case errors.Is(err, auth.ErrInvalidRefreshToken):
		p = errInvalidRefresh
	case errors.Is(err, auth.ErrRefreshTokenReused):
		p = errRefreshReused
	case errors.Is(err, auth.ErrUnauthenticated):
		p = problem.ErrUnauthorized
	case errors.Is(err, auth.ErrNotFound):
		p = problem.ErrNotFound
	case errors.Is(err, c.Request.Context().Err()) && c.Request.Context().Err() != nil:
		// The client (the gateway) gave up; nobody reads this answer.
		p = problem.ErrUnavailable.Wrap(err)
	case pgdb.Unavailable(err):
		// PostgreSQL restarting or out of reach: retry in a second.
		p = problem.RetryLater(err)
	default:
		p = problem.ErrInternal.Wrap(err)
	}
	problem.Write(c, p)
}

func fields(in []auth.FieldError) []problem.FieldError {
	out := make([]problem.FieldError, len(in))
	for i, f := range in {
		out[i] = problem.FieldError{Field: f.Field, Message: f.Message}
	}
	return out
}
