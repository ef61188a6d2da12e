package rabbit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"
	rabbitmq "github.com/wagslane/go-rabbitmq"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/trace"
)

// Headers the consumer adds to retried and dead-lettered messages.
const (
	// AttemptHeader counts handling attempts: absent on the first delivery,
	// 2 on the first retry, and so on.
	AttemptHeader = "x-parley-attempt"
	// ErrorHeader holds the last handler error (truncated).
	ErrorHeader = "x-parley-error"
	// QueueHeader names the queue that gave up on a dead-lettered message.
	QueueHeader = "x-parley-queue"
	// OriginalExchangeHeader and OriginalRoutingKeyHeader say where a
	// dead-lettered message was first published, so a person can
	// republish it after fixing the cause.
	OriginalExchangeHeader   = "x-parley-original-exchange"
	OriginalRoutingKeyHeader = "x-parley-original-routing-key"
)

// process handles one delivery and decides its fate.
func (c *Consumer) process(base context.Context, d amqp.Delivery) rabbitmq.Action {
	start := time.Now()
	attempt := attemptOf(d)
	tc := traceOf(d)
	routingKey := d.RoutingKey
	if rk, ok := d.Headers[OriginalRoutingKeyHeader].(string); ok {
		routingKey = rk // a retried copy comes back keyed by queue name
	}
	log := c.log.With().Str("trace.id", tc.TraceID).Str("span.id", tc.SpanID).
		Str("event.id", d.MessageId).Str("event.action", routingKey).Int("attempt", attempt).Logger()
	ctx, cancel := context.WithTimeout(log.WithContext(trace.With(base, tc)), c.cfg.HandlerTimeout)
	defer cancel()

	env, err := events.Decode(d.Body)
	if err == nil {
		err = c.call(ctx, env)
	}
	switch {
	case err == nil:
		c.handled.Add(1)
		c.okLog.Info().Str("trace.id", tc.TraceID).Str("span.id", tc.SpanID).Str("event.id", d.MessageId).
			Str("event.action", routingKey).Dur("event.duration", time.Since(start)).Msg("event handled")
		return rabbitmq.Ack
	case errors.Is(err, events.ErrMalformed):
		return c.deadLetter(ctx, d, attempt, err)
	case attempt >= c.cfg.MaxAttempts:
		return c.deadLetter(ctx, d, attempt, err)
	default:
		return c.retry(ctx, d, attempt, err)
	}
}

// call runs the handler, turning a panic into an error so one bad event
// cannot take the service down.
func (c *Consumer) call(ctx context.Context, env events.Envelope) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("handler panic: %v", r)
		}
	}()
	return c.handler(ctx, env)
}

// retry parks the event in the retry queue for its backoff delay, after
// which the broker dead-letters it back into the main queue. The original
// is acknowledged only once the copy is confirmed, so a crash in between
// duplicates the event rather than losing it.
func (c *Consumer) retry(ctx context.Context, d amqp.Delivery, attempt int, cause error) rabbitmq.Action {
	delay := min(c.cfg.RetryDelay<<min(attempt-1, 20), c.cfg.MaxRetryDelay)
	log := logging.ErrorFields(zerolog.Ctx(ctx).Warn(), cause)
	headers := carriedHeaders(d)
	headers[AttemptHeader] = int32(attempt + 1)
	headers[ErrorHeader] = truncate(cause.Error(), 1000)
	err := c.conn.pub.PublishBatch(context.WithoutCancel(ctx), []Message{{
		RoutingKey: RetryQueue(c.queue), Body: d.Body, ID: messageID(d), Headers: headers, Expiration: delay,
	}})[0]
	if err != nil {
		// Without a confirmed copy the original must stay: requeue it (the
		// delivery limit still bounds a message that always fails here).
		log.AnErr("retry_error", err).Msg("event failed and could not be parked for retry; requeued")
		time.Sleep(time.Second)
		return rabbitmq.NackRequeue
	}
	c.retried.Add(1)
	log.Dur("retry_in", delay).Msg("event failed; will retry")
	return rabbitmq.Ack
}

// deadLetter publishes the event to parley.dead-letter with the reason in
// its headers and acknowledges the original. If that publish fails it
// rejects the original instead, and the queue's own dead-letter settings
// take it to the same dead queue (without the reason headers).
func (c *Consumer) deadLetter(ctx context.Context, d amqp.Delivery, attempt int, cause error) rabbitmq.Action {
	c.deadLettered.Add(1)
	log := logging.ErrorFields(zerolog.Ctx(ctx).Error(), cause).Str("dead_queue", DeadQueue(c.queue))
	headers := carriedHeaders(d)
	headers[AttemptHeader] = int32(attempt)
	headers[ErrorHeader] = truncate(cause.Error(), 1000)
	headers[QueueHeader] = c.queue
	if _, ok := headers[OriginalExchangeHeader]; !ok {
		headers[OriginalExchangeHeader] = d.Exchange
		headers[OriginalRoutingKeyHeader] = d.RoutingKey
	}
	err := c.conn.pub.PublishBatch(context.WithoutCancel(ctx), []Message{{
		Exchange: events.ExchangeDeadLetter, RoutingKey: c.queue, Body: d.Body, ID: messageID(d), Headers: headers,
	}})[0]
	if err != nil {
		log.AnErr("dead_letter_error", err).Msg("event dead-lettered by rejection")
		return rabbitmq.NackDiscard
	}
	log.Msg("event dead-lettered")
	return rabbitmq.Ack
}

// attemptOf reads AttemptHeader; the first delivery is attempt 1.
func attemptOf(d amqp.Delivery) int {
	switch v := d.Headers[AttemptHeader].(type) {
	case int32:
		return max(int(v), 1)
	case int64:
		return max(int(v), 1)
	case int:
		return max(v, 1)
	}
	return 1
}

// traceOf continues the trace in the traceparent header, or starts one.
func traceOf(d amqp.Delivery) trace.Context {
	tp, _ := d.Headers[trace.Header].(string)
	return trace.Continue(tp)
}

// carriedHeaders copies the headers worth keeping on a republished copy:
// the trace, the original route and ours; the broker's x-death and
// x-delivery-count describe the old copy and would only grow.
func carriedHeaders(d amqp.Delivery) amqp.Table {
	out := amqp.Table{}
	for k, v := range d.Headers {
		if !strings.HasPrefix(k, "x-") || strings.HasPrefix(k, "x-parley-") {
			out[k] = v
		}
	}
	if _, ok := out[OriginalExchangeHeader]; !ok && d.Exchange != "" {
		out[OriginalExchangeHeader] = d.Exchange
		out[OriginalRoutingKeyHeader] = d.RoutingKey
	}
	return out
}

// messageID keeps the event id; a message without one (never Parley's own)
// gets a fresh id so it can still be parked or dead-lettered.
func messageID(d amqp.Delivery) string {
	if d.MessageId != "" {
		return d.MessageId
	}
	return "no-id-" + uuid.NewString()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// gate admits handler calls until closed, then lets close wait for the
// ones in flight.
type gate struct {
	mu     sync.RWMutex
	closed bool
	wg     sync.WaitGroup
}

func (g *gate) enter() bool {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return false
	}
	g.wg.Add(1)
	return true
}

func (g *gate) leave() { g.wg.Done() }

func (g *gate) close(ctx context.Context) error {
	g.mu.Lock()
	g.closed = true
	g.mu.Unlock()
	done := make(chan struct{})
	go func() { g.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
