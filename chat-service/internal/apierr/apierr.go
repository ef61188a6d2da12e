// Package apierr is chat-service's one mapping from errors to problems:
// REST writes the result with problem.Write, the Socket.IO link puts the
// same status and code in its ack, so both transports fail alike.
package apierr

import (
	"context"
	"errors"
	"math"
	"net/http"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/problem"
)

// From returns the problem for err. Domain errors keep their code and
// fields; a *problem.Problem (from request decoding) passes through; a
// cancelled context is 503; anything else is a 500 wrapping err for the
// log.
func From(err error) *problem.Problem {
	var de *chat.Error
	var p *problem.Problem
	switch {
	case errors.As(err, &de):
		return fromDomain(de)
	case errors.As(err, &p):
		return p
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return problem.ErrUnavailable.Wrap(err)
	default:
		return problem.ErrInternal.Wrap(err)
	}
}

var statusOf = map[chat.ErrorKind]int{
	chat.KindInvalid:     http.StatusBadRequest,
	chat.KindNotFound:    http.StatusNotFound,
	chat.KindForbidden:   http.StatusForbidden,
	chat.KindConflict:    http.StatusConflict,
	chat.KindRateLimited: http.StatusTooManyRequests,
	chat.KindOverloaded:  http.StatusServiceUnavailable,
}

func fromDomain(e *chat.Error) *problem.Problem {
	status, ok := statusOf[e.Kind]
	if !ok {
		return problem.ErrInternal.Wrap(e)
	}
	p := problem.New(status, e.Code, e.Detail)
	for _, f := range e.Fields {
		p = p.WithFields(problem.FieldError{Field: f.Field, Message: f.Message})
	}
	switch e.Kind {
	case chat.KindRateLimited:
		p.RetryAfter = max(1, int(math.Ceil(e.RetryAfter.Seconds())))
	case chat.KindOverloaded:
		p.RetryAfter = 1
	}
	return p
}
