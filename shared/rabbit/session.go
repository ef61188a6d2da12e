package rabbit

import (
	"context"
	"errors"
	"fmt"
	"sync"

	amqp "github.com/rabbitmq/amqp091-go"
)

// pubSession is one connection with its confirm-mode channel.
type pubSession struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	// returns is drained only by publishers after their confirms arrive:
	// the broker sends basic.return before the basic.ack of the same
	// message, and amqp091 hands the return to this buffered channel before
	// it processes the ack, so a drain after the ack always sees it.
	returns  chan amqp.Return
	mu       sync.Mutex
	returned map[string]amqp.Return // by message id
}

// returnBuffer bounds returns waiting to be drained; it must exceed the
// number of publishes in flight at once or the connection's reader blocks.
const returnBuffer = 8192

// publish sends msgs without waiting for confirms and returns their
// deferred confirmations, recording send failures in errs. retry reports
// that the channel was already closed and nothing was sent.
func (s *pubSession) publish(ctx context.Context, msgs []Message, errs []error) (pending []*amqp.DeferredConfirmation, retry bool) {
	pending = make([]*amqp.DeferredConfirmation, len(msgs))
	for i, m := range msgs {
		var dc *amqp.DeferredConfirmation
		var err error
		if m.ID == "" {
			// Returns are matched to publishes by message id.
			err = errors.New("message id is required")
		} else {
			s.forget(m.ID)
			dc, err = s.ch.PublishWithDeferredConfirmWithContext(ctx, m.Exchange, m.RoutingKey, true, false, publishing(ctx, m))
			if err == nil && dc == nil {
				err = errors.New("channel not in confirm mode")
			}
		}
		if err != nil {
			if i == 0 && errors.Is(err, amqp.ErrClosed) {
				return nil, true
			}
			for j := i; j < len(msgs); j++ {
				errs[j] = fmt.Errorf("rabbit: publish %s: %w", msgs[j].RoutingKey, err)
			}
			break
		}
		pending[i] = dc
	}
	return pending, false
}

// forget drops a stale return recorded for id by an earlier attempt.
func (s *pubSession) forget(id string) {
	s.mu.Lock()
	delete(s.returned, id)
	s.mu.Unlock()
}

func (s *pubSession) drainReturns() {
	s.mu.Lock()
	defer s.mu.Unlock()
	// Returns whose publisher gave up (timeout) are never taken; a bounded
	// map keeps them from piling up.
	if len(s.returned) > 4*returnBuffer {
		clear(s.returned)
	}
	for {
		select {
		case r, ok := <-s.returns:
			if !ok {
				return
			}
			s.returned[r.MessageId] = r
		default:
			return
		}
	}
}

func (s *pubSession) takeReturned(id string) (amqp.Return, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.returned[id]
	if ok {
		delete(s.returned, id)
	}
	return r, ok
}
