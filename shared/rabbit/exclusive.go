package rabbit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/trace"
)

// InstanceConfig describes a per-instance consumer (each gateway instance
// has one); zero values take defaults.
type InstanceConfig struct {
	// Name prefixes the queue name, <Name>.<random id>, so a person can
	// tell in the broker which service owns it.
	Name string
	// Bindings are the events the instance receives, e.g. parley.chat
	// chat.#, parley.realtime realtime.#, parley.auth auth.#.
	Bindings []Binding
	// Prefetch bounds deliveries in flight. Default 100.
	Prefetch int
	// Concurrency is the number of handler goroutines. Default 4; 1 keeps
	// the broker's order.
	Concurrency int
	// HandlerTimeout bounds one handler call. Default 10s.
	HandlerTimeout time.Duration
	// MaxLength bounds the queue (oldest dropped first) so an instance that
	// stalls cannot fill the broker's memory. Default 100000.
	MaxLength int
	// Expiry is the queue's x-expires: how long it outlives its consumer
	// (a dropped connection, a broker restart) before the broker deletes
	// it. Default 60s.
	Expiry time.Duration
	// OnReset, if set, is called when events may have been missed: the
	// queue was gone when the consumer came back (it expired, was deleted,
	// or the broker lost it) and had to be created again. It runs once the
	// new queue is bound and consumed, so whatever the callee does next
	// (tell clients to sync) sees every event from then on.
	OnReset func(reason string)
}

// ResetQueueRecreated is the OnReset reason when the instance's queue had
// to be created again.
const ResetQueueRecreated = "queue_recreated"

// InstanceConsumer consumes a durable queue private to one running
// instance, on a connection of its own. The queue has an expiry instead of
// being exclusive, so it outlives a dropped connection or a broker restart
// and the events published meanwhile wait in it; the consumer re-attaches
// after every reconnect. When the queue is found gone, it is created again
// and OnReset reports that events may have been lost. Ending Run while
// connected deletes the queue (otherwise it expires). A failing or
// malformed event is logged and dropped.
type InstanceConsumer struct {
	conn    *Conn
	cfg     InstanceConfig
	queue   string
	handler Handler
	log     zerolog.Logger

	attached atomic.Bool
	// created is set once the queue was first declared by this consumer;
	// only the consumer's goroutine touches it.
	created bool

	handled, dropped, restarts atomic.Uint64
	// acks counts acknowledgements sent to the broker (one may cover
	// several deliveries).
	acks atomic.Uint64
}

// ackDelay is how long, at most, a handled delivery waits for its
// acknowledgement when a single handler goroutine keeps the broker's order
// (see consumeInOrder).
const ackDelay = 5 * time.Millisecond

// NewInstanceConsumer returns a consumer whose queue is declared and bound
// when Run starts, and again after every reconnect.
func NewInstanceConsumer(conn *Conn, cfg InstanceConfig, h Handler) (*InstanceConsumer, error) {
	if err := validName(cfg.Name); err != nil {
		return nil, err
	}
	if len(cfg.Bindings) == 0 {
		return nil, errors.New("rabbit: an instance consumer needs at least one binding")
	}
	setDefault(&cfg.Prefetch, 100)
	setDefault(&cfg.Concurrency, 4)
	setDefault(&cfg.HandlerTimeout, 10*time.Second)
	setDefault(&cfg.MaxLength, 100000)
	setDefault(&cfg.Expiry, 60*time.Second)
	queue := cfg.Name + "." + uuid.NewString()
	return &InstanceConsumer{
		conn: conn, cfg: cfg, queue: queue, handler: h,
		log: conn.log.With().Str("rabbitmq.queue", queue).Logger(),
	}, nil
}

// Queue returns the queue name.
func (c *InstanceConsumer) Queue() string { return c.queue }

// Acks returns how many acknowledgements were sent to the broker; with one
// handler goroutine one may cover several deliveries.
func (c *InstanceConsumer) Acks() uint64 { return c.acks.Load() }

// ConnectionName is the name the consumer's AMQP connection shows in the
// broker (rabbitmqctl list_connections name).
func (c *InstanceConsumer) ConnectionName() string { return c.conn.opts.name + "/deliveries" }

// Stats returns how many events were handled and dropped, and how often the
// subscription was re-created.
func (c *InstanceConsumer) Stats() (handled, dropped, restarts uint64) {
	return c.handled.Load(), c.dropped.Load(), c.restarts.Load()
}

// Check reports whether the queue is consumed right now, for /readyz.
func (c *InstanceConsumer) Check(context.Context) error {
	if !c.attached.Load() {
		return fmt.Errorf("rabbit: queue %s is not consumed", c.queue)
	}
	return nil
}

// Run consumes until ctx ends, reconnecting with backoff whenever the
// connection or the subscription is lost. On the way out it waits for
// handlers in flight and deletes the queue.
func (c *InstanceConsumer) Run(ctx context.Context) error {
	for attempt := 0; ; attempt++ {
		began := time.Now()
		err := c.session(ctx)
		c.attached.Store(false)
		if ctx.Err() != nil {
			return nil
		}
		if time.Since(began) > 10*time.Second {
			attempt = 0
		}
		c.restarts.Add(1)
		logging.ErrorFields(c.log.Warn(), err).Msg("rabbitmq: instance consumer lost its subscription; re-attaching")
		select {
		case <-ctx.Done():
			// Stopped while disconnected: the queue expires on its own.
			return nil
		case <-time.After(backoff(c.conn.opts.reconnectBase, attempt)):
		}
	}
}

// dialTimeout bounds one connection attempt, so a broker that does not
// answer cannot hold Run (or a shutdown) for long.
const dialTimeout = 5 * time.Second

// session is one connection: attach to the queue, consume until the
// connection, the channel or the subscription ends, or ctx ends; in the
// last case the queue is deleted (nobody else will ever consume it).
func (c *InstanceConsumer) session(ctx context.Context) error {
	cfg := c.conn.amqpConfig("deliveries")
	cfg.Dial = amqp.DefaultDial(dialTimeout)
	conn, err := amqp.DialConfig(c.conn.url, cfg)
	if err != nil {
		return fmt.Errorf("rabbit: dial: %w", err)
	}
	defer conn.Close()
	// The connection's end is what matters; watching it also frees
	// amqp091 from blocking on an unread notification.
	closed := conn.NotifyClose(make(chan *amqp.Error, 1))
	if err := c.conn.topo.declareExchanges(conn, bindingExchanges(c.cfg.Bindings)); err != nil {
		return err
	}
	existed, err := c.queueExists(conn)
	if err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	if _, err := ch.QueueDeclare(c.queue, true, false, false, false, c.queueArgs()); err != nil {
		return fmt.Errorf("declare queue %s: %w", c.queue, err)
	}
	for _, b := range c.cfg.Bindings {
		if err := ch.QueueBind(c.queue, b.Key, b.Exchange, false, nil); err != nil {
			return fmt.Errorf("bind %s to %s %s: %w", c.queue, b.Exchange, b.Key, err)
		}
	}
	if err := ch.Qos(c.cfg.Prefetch, 0, false); err != nil {
		return err
	}
	tag := "consumer-" + uuid.NewString()
	deliveries, err := ch.Consume(c.queue, tag, false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.queue, err)
	}
	c.attached.Store(true)
	if c.created && !existed {
		c.log.Warn().Msg("rabbitmq: instance queue was gone and has been created again; events may have been missed")
		if c.cfg.OnReset != nil {
			c.cfg.OnReset(ResetQueueRecreated)
		}
	} else if c.created {
		c.log.Info().Msg("rabbitmq: instance consumer re-attached to its queue")
	}
	c.created = true

	var wg sync.WaitGroup
	if c.cfg.Concurrency == 1 {
		wg.Go(func() { c.consumeInOrder(ctx, deliveries) })
	}
	for range c.cfg.Concurrency {
		if c.cfg.Concurrency == 1 {
			break
		}
		wg.Go(func() {
			for d := range deliveries {
				c.process(ctx, d)
				_ = d.Ack(false)
				c.acks.Add(1)
			}
		})
	}
	var reason error
	select {
	case <-ctx.Done():
		// Stop the flow, let the handlers finish what they hold; what was
		// prefetched and not handled goes back to the queue.
		_ = ch.Cancel(tag, false)
	case e := <-closed:
		reason = fmt.Errorf("rabbit: connection closed: %v", e)
	case <-waitDone(&wg):
		reason = errors.New("rabbit: subscription ended (channel closed or consumer cancelled)")
	}
	c.attached.Store(false)
	if !waited(&wg, c.cfg.HandlerTimeout) {
		c.log.Warn().Msg("rabbitmq: instance consumer closed before its handlers finished")
	}
	if reason == nil {
		if _, err := ch.QueueDelete(c.queue, false, false, false); err != nil {
			c.log.Warn().Err(err).Msg("rabbitmq: could not delete the instance queue; it expires on its own")
		}
	}
	return reason
}

// queueArgs are the queue's arguments: classic (a consumer that acks at
// once spares the broker writing the message to disk, and only this one
// instance reads it), bounded, and deleted after Expiry without consumers.
func (c *InstanceConsumer) queueArgs() amqp.Table {
	return amqp.Table{
		amqp.QueueTypeArg: amqp.QueueTypeClassic,
		"x-expires":       int32(c.cfg.Expiry / time.Millisecond),
		"x-max-length":    int32(c.cfg.MaxLength),
		"x-overflow":      "drop-head",
	}
}

// queueExists asks the broker whether the queue is there, on a channel of
// its own (a 404 closes the channel it happens on).
func (c *InstanceConsumer) queueExists(conn *amqp.Connection) (bool, error) {
	ch, err := conn.Channel()
	if err != nil {
		return false, err
	}
	_, err = ch.QueueDeclarePassive(c.queue, true, false, false, false, c.queueArgs())
	if err == nil {
		_ = ch.Close()
		return true, nil
	}
	var ae *amqp.Error
	if errors.As(err, &ae) && ae.Code == amqp.NotFound {
		return false, nil
	}
	return false, fmt.Errorf("rabbit: inspect queue %s: %w", c.queue, err)
}

func (c *InstanceConsumer) process(base context.Context, d amqp.Delivery) {
	tc := traceOf(d)
	log := c.log.With().Str("trace.id", tc.TraceID).Str("span.id", tc.SpanID).
		Str("event.id", d.MessageId).Str("event.action", d.RoutingKey).Logger()
	ctx, cancel := context.WithTimeout(log.WithContext(trace.With(context.WithoutCancel(base), tc)), c.cfg.HandlerTimeout)
	defer cancel()
	env, err := events.Decode(d.Body)
	if err == nil {
		err = func() (err error) {
			defer func() {
				if r := recover(); r != nil {
					err = fmt.Errorf("handler panic: %v", r)
				}
			}()
			return c.handler(ctx, env)
		}()
	}
	if err != nil {
		c.dropped.Add(1)
		logging.ErrorFields(log.Warn(), err).Msg("event dropped")
		return
	}
	c.handled.Add(1)
}

// waitDone returns a channel closed when wg is done.
func waitDone(wg *sync.WaitGroup) <-chan struct{} {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// waited waits for wg at most d and reports whether it finished.
func waited(wg *sync.WaitGroup, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-waitDone(wg):
		return true
	case <-t.C:
		return false
	}
}

// consumeInOrder handles deliveries one at a time, in the broker's order,
// and acknowledges them in batches: one ack with multiple set covers every
// delivery handled so far, sent ackDelay after the first unacknowledged
// one or once half the prefetch window is unacknowledged, whichever comes
// first. Under load that is one ack frame (and one write on each side) for
// many events instead of one each; handling itself is never delayed. A
// delivery is acked only after it was handled, so what a lost connection
// leaves unacked is redelivered, never skipped.
func (c *InstanceConsumer) consumeInOrder(ctx context.Context, deliveries <-chan amqp.Delivery) {
	batch := max(1, c.cfg.Prefetch/2)
	var last amqp.Delivery
	unacked := 0
	var due <-chan time.Time
	flush := func() {
		if unacked > 0 {
			_ = last.Ack(true)
			c.acks.Add(1)
			unacked = 0
		}
		due = nil
	}
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				flush()
				return
			}
			c.process(ctx, d)
			last = d
			unacked++
			switch {
			case unacked >= batch:
				flush()
			case due == nil:
				due = time.After(ackDelay)
			}
		case <-due:
			flush()
		}
	}
}
