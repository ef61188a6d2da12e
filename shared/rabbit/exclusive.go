package rabbit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"
	rabbitmq "github.com/wagslane/go-rabbitmq"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/trace"
)

// ExclusiveConfig describes a per-instance consumer (each gateway instance
// has one); zero values take defaults.
type ExclusiveConfig struct {
	// Name prefixes the queue name, <Name>.<random id>, so a person can
	// tell in the broker which service owns it.
	Name string
	// Bindings are the events the instance receives, e.g. parley.chat
	// chat.#, parley.realtime realtime.#, parley.auth auth.#.
	Bindings []Binding
	// Prefetch bounds deliveries in flight. Default 100.
	Prefetch int
	// Concurrency is the number of handler goroutines. Default 4.
	Concurrency int
	// HandlerTimeout bounds one handler call. Default 10s.
	HandlerTimeout time.Duration
	// MaxLength bounds the queue (oldest dropped first) so an instance that
	// stalls cannot fill the broker's memory. Default 100000.
	MaxLength int
}

// ExclusiveConsumer consumes a server-side exclusive, auto-deleted queue
// that lives only as long as its connection. Its deliveries are best
// effort: a failing or malformed event is logged and dropped, and events
// published while the broker connection is down are not seen (clients
// catch up with sync).
type ExclusiveConsumer struct {
	conn    *Conn
	cfg     ExclusiveConfig
	queue   string
	handler Handler
	log     zerolog.Logger

	handled, dropped, restarts atomic.Uint64
}

// NewExclusiveConsumer returns a consumer whose queue is declared and bound
// when Run starts, and again after every reconnect.
func NewExclusiveConsumer(conn *Conn, cfg ExclusiveConfig, h Handler) (*ExclusiveConsumer, error) {
	if err := validName(cfg.Name); err != nil {
		return nil, err
	}
	if len(cfg.Bindings) == 0 {
		return nil, errors.New("rabbit: an exclusive consumer needs at least one binding")
	}
	setDefault(&cfg.Prefetch, 100)
	setDefault(&cfg.Concurrency, 4)
	setDefault(&cfg.HandlerTimeout, 10*time.Second)
	setDefault(&cfg.MaxLength, 100000)
	queue := cfg.Name + "." + uuid.NewString()
	return &ExclusiveConsumer{
		conn: conn, cfg: cfg, queue: queue, handler: h,
		log: conn.log.With().Str("rabbitmq.queue", queue).Logger(),
	}, nil
}

// Queue returns the queue name.
func (c *ExclusiveConsumer) Queue() string { return c.queue }

// Stats returns how many events were handled and dropped, and how often the
// subscription was re-created.
func (c *ExclusiveConsumer) Stats() (handled, dropped, restarts uint64) {
	return c.handled.Load(), c.dropped.Load(), c.restarts.Load()
}

// Run consumes until ctx ends, then waits for handlers in flight and closes
// the channel (the broker deletes the queue with the connection).
func (c *ExclusiveConsumer) Run(ctx context.Context) error {
	g := &gate{}
	base := context.WithoutCancel(ctx)
	deliver := func(d rabbitmq.Delivery) rabbitmq.Action {
		if !g.enter() {
			return rabbitmq.Manual
		}
		defer g.leave()
		c.process(base, d.Delivery)
		return rabbitmq.Ack
	}
	return supervise(ctx, supervised{
		conn: c.conn, log: c.log, name: c.queue, deliver: deliver,
		exchanges: bindingExchanges(c.cfg.Bindings), opts: c.options,
		gate: g, drainTimeout: c.cfg.HandlerTimeout, restarts: &c.restarts,
	})
}

// options configure the go-rabbitmq consumer; they are read after the
// exchanges were declared (see supervised).
func (c *ExclusiveConsumer) options() []func(*rabbitmq.ConsumerOptions) {
	opts := []func(*rabbitmq.ConsumerOptions){
		rabbitmq.WithConsumerOptionsQueueAutoDelete,
		rabbitmq.WithConsumerOptionsQueueExclusive,
		rabbitmq.WithConsumerOptionsQueueArgs(rabbitmq.Table{
			amqp.QueueTypeArg: amqp.QueueTypeClassic, // exclusive queues cannot be quorum queues
			"x-max-length":    int32(c.cfg.MaxLength),
			"x-overflow":      "drop-head",
		}),
		rabbitmq.WithConsumerOptionsForceShutdown,
		rabbitmq.WithConsumerOptionsLogger(libLogger{c.log}),
		rabbitmq.WithConsumerOptionsQOSPrefetch(c.cfg.Prefetch),
		rabbitmq.WithConsumerOptionsConcurrency(c.cfg.Concurrency),
	}
	for _, b := range c.cfg.Bindings {
		opts = append(opts, rabbitmq.WithConsumerOptionsExchangeOptions(c.conn.topo.consumerExchange(b)))
	}
	return opts
}

func (c *ExclusiveConsumer) process(base context.Context, d amqp.Delivery) {
	tc := traceOf(d)
	log := c.log.With().Str("trace.id", tc.TraceID).Str("span.id", tc.SpanID).
		Str("event.id", d.MessageId).Str("event.action", d.RoutingKey).Logger()
	ctx, cancel := context.WithTimeout(log.WithContext(trace.With(base, tc)), c.cfg.HandlerTimeout)
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
