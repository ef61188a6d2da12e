package rabbit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"
	rabbitmq "github.com/wagslane/go-rabbitmq"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/logging"
)

// Handler processes one event. Returning nil acknowledges it. An error
// wrapping events.ErrMalformed sends it to the dead-letter queue at once;
// any other error retries it later, up to MaxAttempts. ctx carries the
// event's trace (trace.From) and a logger with trace.id (zerolog.Ctx).
type Handler func(ctx context.Context, ev events.Envelope) error

// ConsumerConfig describes a durable consumer; zero values take defaults.
type ConsumerConfig struct {
	// Consumer is the consuming service, e.g. "user-service".
	Consumer string
	// Purpose names what the queue is for, e.g. "profiles"; the queue is
	// <Consumer>.<Purpose>.
	Purpose string
	// Bindings are the events the queue receives.
	Bindings []Binding
	// Prefetch bounds unacknowledged deliveries in flight. Default 20.
	Prefetch int
	// Concurrency is the number of handler goroutines. Default 4.
	Concurrency int
	// MaxAttempts is how many times a failing event is handled before it is
	// dead-lettered. Default 5.
	MaxAttempts int
	// RetryDelay is the wait before the first retry; it doubles with each
	// attempt up to MaxRetryDelay. Defaults 1s and 1m.
	RetryDelay    time.Duration
	MaxRetryDelay time.Duration
	// HandlerTimeout bounds one handler call. Default 30s.
	HandlerTimeout time.Duration
	// DeliveryLimit is the quorum queue's x-delivery-limit: deliveries that
	// never got an answer (the consumer crashed) are dead-lettered by the
	// broker after this many. Default 20.
	DeliveryLimit int
	// DrainTimeout bounds how long Run waits for in-flight handlers on
	// shutdown. Default 30s.
	DrainTimeout time.Duration
	// WatchInterval is how often the broker is asked whether the queue still
	// has a consumer; a consumer missing for three checks in a row is
	// re-created. Default 10s.
	WatchInterval time.Duration
}

func (c *ConsumerConfig) defaults() error {
	if err := validName(c.Consumer); err != nil {
		return err
	}
	if err := validName(c.Purpose); err != nil {
		return err
	}
	if len(c.Bindings) == 0 {
		return errors.New("rabbit: a consumer needs at least one binding")
	}
	setDefault(&c.Prefetch, 20)
	setDefault(&c.Concurrency, 4)
	setDefault(&c.MaxAttempts, 5)
	setDefault(&c.RetryDelay, time.Second)
	setDefault(&c.MaxRetryDelay, time.Minute)
	setDefault(&c.HandlerTimeout, 30*time.Second)
	setDefault(&c.DeliveryLimit, 20)
	setDefault(&c.DrainTimeout, 30*time.Second)
	setDefault(&c.WatchInterval, 10*time.Second)
	return nil
}

func setDefault[T int | time.Duration](v *T, def T) {
	if *v <= 0 {
		*v = def
	}
}

// ConsumerStats are a consumer's counters since it started.
type ConsumerStats struct {
	Handled      uint64 `json:"handled"`
	Retried      uint64 `json:"retried"`
	DeadLettered uint64 `json:"deadLettered"`
	Restarts     uint64 `json:"restarts"`
}

// Consumer consumes a durable quorum queue with retries and dead letters.
type Consumer struct {
	conn    *Conn
	cfg     ConsumerConfig
	queue   string
	handler Handler
	log     zerolog.Logger
	okLog   zerolog.Logger // handled events, at info, sampled

	handled, retried, deadLettered, restarts atomic.Uint64
}

// NewConsumer declares the consumer's topology (queue, retry queue, dead
// queue, bindings; see infra/rabbitmq/topology.md) and returns a consumer
// ready to Run. A declaration the broker refuses (for example a queue that
// exists with other arguments) is returned as an error.
func NewConsumer(ctx context.Context, conn *Conn, cfg ConsumerConfig, h Handler) (*Consumer, error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	queue := QueueName(cfg.Consumer, cfg.Purpose)
	s, err := conn.pub.await(ctx)
	if err != nil {
		return nil, err
	}
	if err := declareConsumerTopology(conn.topo, s.conn, queue, cfg.DeliveryLimit, cfg.Bindings); err != nil {
		return nil, fmt.Errorf("rabbit: consumer %s: %w", queue, err)
	}
	return &Consumer{
		conn: conn, cfg: cfg, queue: queue, handler: h,
		log:   conn.log.With().Str("rabbitmq.queue", queue).Logger(),
		okLog: logging.Sampled(conn.log.With().Str("rabbitmq.queue", queue).Str("event.dataset", "rabbitmq.consume").Logger()),
	}, nil
}

// Queue returns the queue name, <consumer>.<purpose>.
func (c *Consumer) Queue() string { return c.queue }

// Stats returns the consumer's counters.
func (c *Consumer) Stats() ConsumerStats {
	return ConsumerStats{
		Handled: c.handled.Load(), Retried: c.retried.Load(),
		DeadLettered: c.deadLettered.Load(), Restarts: c.restarts.Load(),
	}
}

// Run consumes until ctx ends, then drains: it stops taking deliveries,
// waits (up to DrainTimeout) for the handlers in flight, and closes the
// channel, so the broker requeues whatever was prefetched but not handled.
// go-rabbitmq re-subscribes after broker restarts; Run also re-creates the
// subscription if go-rabbitmq's run ends or the broker shows the queue
// without a consumer for a while.
func (c *Consumer) Run(ctx context.Context) error {
	g := &gate{}
	base := context.WithoutCancel(ctx)
	deliver := func(d rabbitmq.Delivery) rabbitmq.Action {
		if !g.enter() {
			// Draining: leave it unacknowledged; closing the channel
			// hands it back to the broker for the next consumer.
			return rabbitmq.Manual
		}
		defer g.leave()
		// Settled here, before leaving the gate: the drain closes the
		// channel once the gate is empty, and an ack the library sent
		// after this returned could come too late, handing a handled
		// event back to the broker.
		settle(d.Delivery, c.process(base, d.Delivery))
		return rabbitmq.Manual
	}
	return supervise(ctx, supervised{
		conn: c.conn, log: c.log, name: c.queue, deliver: deliver,
		exchanges: bindingExchanges(c.cfg.Bindings), opts: c.options,
		gate: g, drainTimeout: c.cfg.DrainTimeout, restarts: &c.restarts,
		watch: c.watch, watchInterval: c.cfg.WatchInterval,
	})
}

// settle acknowledges d as action says.
func settle(d amqp.Delivery, action rabbitmq.Action) {
	switch action {
	case rabbitmq.Ack:
		_ = d.Ack(false)
	case rabbitmq.NackRequeue:
		_ = d.Nack(false, true)
	case rabbitmq.NackDiscard:
		_ = d.Nack(false, false)
	}
}

// options configure the go-rabbitmq consumer; they are read after the
// exchanges were declared (see supervised).
func (c *Consumer) options() []func(*rabbitmq.ConsumerOptions) {
	return append(c.queueOptions(),
		rabbitmq.WithConsumerOptionsQOSPrefetch(c.cfg.Prefetch),
		rabbitmq.WithConsumerOptionsConcurrency(c.cfg.Concurrency),
	)
}

// queueOptions makes go-rabbitmq declare the queue exactly as
// declareConsumerTopology did, so its re-declaration after a reconnect
// matches (and re-creates the queue if someone deleted it).
func (c *Consumer) queueOptions() []func(*rabbitmq.ConsumerOptions) {
	opts := []func(*rabbitmq.ConsumerOptions){
		rabbitmq.WithConsumerOptionsQueueDurable,
		rabbitmq.WithConsumerOptionsQueueArgs(rabbitmq.Table(mainQueueArgs(c.queue, c.cfg.DeliveryLimit))),
		rabbitmq.WithConsumerOptionsForceShutdown, // Run drains itself
		rabbitmq.WithConsumerOptionsLogger(libLogger{c.log}),
	}
	for _, b := range c.cfg.Bindings {
		opts = append(opts, rabbitmq.WithConsumerOptionsExchangeOptions(c.conn.topo.consumerExchange(b)))
	}
	return opts
}

// watch asks the broker, from the publishing connection, how many consumers
// the queue has.
func (c *Consumer) watch(ctx context.Context) (int, error) {
	s, err := c.conn.pub.await(ctx)
	if err != nil {
		return 0, err
	}
	ch, err := s.conn.Channel()
	if err != nil {
		return 0, err
	}
	defer ch.Close()
	q, err := ch.QueueDeclarePassive(c.queue, true, false, false, false, nil)
	if err != nil {
		return 0, err
	}
	return q.Consumers, nil
}

// supervised is one go-rabbitmq consumer kept alive by supervise.
type supervised struct {
	conn *Conn
	log  zerolog.Logger
	name string
	// exchanges are declared (through the one topology) before each
	// consumer is created, and opts is read after, so go-rabbitmq's own
	// declarations match what the broker holds.
	exchanges     []string
	opts          func() []func(*rabbitmq.ConsumerOptions)
	deliver       rabbitmq.Handler
	gate          *gate
	drainTimeout  time.Duration
	restarts      *atomic.Uint64
	watch         func(context.Context) (int, error) // nil: no watchdog
	watchInterval time.Duration
}

// supervise runs s until ctx ends and then drains it. When go-rabbitmq's
// Run returns on its own (it does when its first subscription fails), or
// the watchdog finds the queue without consumers three times in a row, the
// consumer is closed and created again.
func supervise(ctx context.Context, s supervised) error {
	for attempt := 0; ; attempt++ {
		rc, err := s.create(ctx)
		if err == nil {
			ended := make(chan error, 1)
			go func() { ended <- rc.Run(s.deliver) }()
			var reason string
			reason, err = s.wait(ctx, ended)
			if ctx.Err() != nil {
				drainCtx, cancel := context.WithTimeout(context.Background(), s.drainTimeout)
				derr := s.gate.close(drainCtx)
				cancel()
				rc.Close()
				if derr != nil {
					s.log.Warn().Err(derr).Msg("rabbitmq: consumer closed before its handlers finished; their events will be redelivered")
				}
				s.log.Info().Msg("rabbitmq: consumer drained and closed")
				return nil
			}
			rc.Close()
			s.restarts.Add(1)
			logging.ErrorFields(s.log.Warn(), err).Str("reason", reason).Msg("rabbitmq: re-creating consumer")
		} else {
			logging.ErrorFields(s.log.Warn(), err).Msg("rabbitmq: cannot create consumer; retrying")
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff(s.conn.opts.reconnectBase, attempt)):
		}
	}
}

// create declares the exchanges and creates the go-rabbitmq consumer.
func (s supervised) create(ctx context.Context) (*rabbitmq.Consumer, error) {
	dctx, cancel := context.WithTimeout(ctx, s.conn.opts.confirmTimeout)
	err := s.conn.declareExchanges(dctx, s.exchanges)
	cancel()
	if err != nil {
		return nil, fmt.Errorf("rabbit: consumer %s: %w", s.name, err)
	}
	return rabbitmq.NewConsumer(s.conn.rmq, s.name, s.opts()...)
}

// wait returns when ctx ends, when go-rabbitmq's Run ends, or when the
// watchdog gives up on the subscription.
func (s supervised) wait(ctx context.Context, ended <-chan error) (string, error) {
	var tick <-chan time.Time
	if s.watch != nil {
		t := time.NewTicker(s.watchInterval)
		defer t.Stop()
		tick = t.C
	}
	missing := 0
	for {
		select {
		case <-ctx.Done():
			return "shutdown", nil
		case err := <-ended:
			if err == nil {
				err = errors.New("go-rabbitmq consumer run ended")
			}
			return "run ended", err
		case <-tick:
			wctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			n, err := s.watch(wctx)
			cancel()
			switch {
			case err != nil:
				missing = 0 // broker unreachable: go-rabbitmq is reconnecting
			case n == 0:
				missing++
			default:
				missing = 0
			}
			if missing >= 3 {
				return "queue has no consumer", errors.New("subscription lost")
			}
		}
	}
}
