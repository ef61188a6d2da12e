package rabbit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"
	rabbitmq "github.com/wagslane/go-rabbitmq"
)

// Option tunes Dial.
type Option func(*options)

type options struct {
	name           string
	reconnectBase  time.Duration
	confirmTimeout time.Duration
	heartbeat      time.Duration
	// unrouted and outboxExchanges are Unrouted and OutboxExchanges
	// unless a test replaced them (WithUnrouted).
	unrouted        string
	outboxExchanges []string
}

// WithName sets the connection name shown by the broker (rabbitmqctl
// list_connections, management UI), normally the service name.
func WithName(name string) Option { return func(o *options) { o.name = name } }

// WithReconnectInterval sets the longest wait between reconnect attempts:
// the first waits a sixteenth of it, and each failure doubles the wait up
// to d. Default 2s, so a restarted broker is found again within about two
// seconds of accepting connections (a refused dial costs nothing).
func WithReconnectInterval(d time.Duration) Option {
	return func(o *options) { o.reconnectBase = max(d/16, 10*time.Millisecond) }
}

// WithConfirmTimeout bounds how long Publish waits for the broker's confirm
// (and for a connection, while the broker is away). Default 15s.
func WithConfirmTimeout(d time.Duration) Option {
	return func(o *options) { o.confirmTimeout = d }
}

// Conn is a service's link to RabbitMQ: a reconnecting consumer connection
// and a reconnecting, confirming Publisher. It is safe for concurrent use.
type Conn struct {
	url  string
	log  zerolog.Logger
	opts options
	rmq  *rabbitmq.Conn
	pub  *Publisher
	topo *topology

	closeOnce sync.Once
	closeErr  error
}

// Dial connects to the broker at url, retrying until it answers or ctx ends
// (a service may start while the broker is still booting). The returned
// Conn keeps reconnecting on its own after broker restarts.
func Dial(ctx context.Context, url string, logger zerolog.Logger, opts ...Option) (*Conn, error) {
	o := options{
		name:            "parley",
		reconnectBase:   2 * time.Second / 16,
		confirmTimeout:  15 * time.Second,
		heartbeat:       10 * time.Second,
		unrouted:        Unrouted,
		outboxExchanges: OutboxExchanges,
	}
	for _, opt := range opts {
		opt(&o)
	}
	logger = logger.With().Str("event.dataset", "rabbitmq").Logger()
	c := &Conn{url: url, log: logger, opts: o, topo: newTopology(o, logger)}

	pub := newPublisher(url, c.amqpConfig("publish"), logger, o, c.topo)
	if err := pub.waitConnected(ctx); err != nil {
		pub.Close()
		return nil, err
	}
	c.pub = pub

	for attempt := 0; ; attempt++ {
		rmq, err := rabbitmq.NewConn(url,
			rabbitmq.WithConnectionOptionsConfig(rabbitmq.Config(c.amqpConfig("consume"))),
			rabbitmq.WithConnectionOptionsBaseReconnectInterval(o.reconnectBase),
			rabbitmq.WithConnectionOptionsLogger(libLogger{logger}),
		)
		if err == nil {
			c.rmq = rmq
			return c, nil
		}
		logger.Warn().Err(err).Int("attempt", attempt+1).Msg("rabbitmq: consumer connection failed; retrying")
		select {
		case <-ctx.Done():
			pub.Close()
			return nil, fmt.Errorf("rabbit: dial: %w", errors.Join(err, ctx.Err()))
		case <-time.After(backoff(o.reconnectBase, attempt)):
		}
	}
}

func (c *Conn) amqpConfig(role string) amqp.Config {
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName(c.opts.name + "/" + role)
	return amqp.Config{Heartbeat: c.opts.heartbeat, Properties: props, Locale: "en_US"}
}

// Publisher returns the Conn's confirming publisher.
func (c *Conn) Publisher() *Publisher { return c.pub }

// DeclareExchanges declares durable topic exchanges now, and again on every
// publisher reconnect, so a producer can always publish to the exchanges it
// owns. Those in OutboxExchanges get alternate-exchange = Unrouted, and the
// Unrouted exchange and queue are declared with them; it is the same
// declaration consumers make, so producers and consumers may start in any
// order. An outbox exchange an older release declared without the argument
// is logged at error level and used as it is (see
// infra/rabbitmq/topology.md for the migration).
func (c *Conn) DeclareExchanges(ctx context.Context, names ...string) error {
	return c.pub.declareExchanges(ctx, names...)
}

// declareExchanges declares names once, on the publishing connection,
// without remembering them for reconnects.
func (c *Conn) declareExchanges(ctx context.Context, names []string) error {
	s, err := c.pub.await(ctx)
	if err != nil {
		return err
	}
	return c.topo.declareExchanges(s.conn, names)
}

// Check reports whether the broker answers on both connections right now;
// it is what /readyz calls.
func (c *Conn) Check(ctx context.Context) error {
	if err := c.pub.check(ctx); err != nil {
		return err
	}
	closed := make(chan bool, 1)
	// IsClosed waits for go-rabbitmq's connection lock, which a reconnect
	// in progress holds for as long as the dial takes.
	go func() { closed <- c.rmq.IsClosed() }()
	select {
	case <-ctx.Done():
		return fmt.Errorf("rabbit: consumer connection: %w", ctx.Err())
	case isClosed := <-closed:
		if isClosed {
			return errors.New("rabbit: consumer connection is down")
		}
	}
	return nil
}

// Close closes the publisher and the consumer connection. Close consumers
// (by ending their Run) before closing the Conn.
// Calling it again is a no-op.
func (c *Conn) Close() error {
	c.closeOnce.Do(func() {
		c.pub.Close()
		c.closeErr = c.rmq.Close()
	})
	return c.closeErr
}

// backoff is base doubled per attempt, capped at 16x base.
func backoff(base time.Duration, attempt int) time.Duration {
	return base << min(max(attempt, 0), 4)
}

// libLogger adapts zerolog to go-rabbitmq's logger. Its Infof chatter
// (every goroutine start) goes to debug; reconnects show up as warnings.
type libLogger struct{ l zerolog.Logger }

func (g libLogger) Fatalf(f string, v ...any) { g.l.Error().Msgf("go-rabbitmq: "+f, v...) }
func (g libLogger) Errorf(f string, v ...any) { g.l.Warn().Msgf("go-rabbitmq: "+f, v...) }
func (g libLogger) Warnf(f string, v ...any)  { g.l.Warn().Msgf("go-rabbitmq: "+f, v...) }
func (g libLogger) Infof(f string, v ...any)  { g.l.Debug().Msgf("go-rabbitmq: "+f, v...) }
func (g libLogger) Debugf(f string, v ...any) { g.l.Debug().Msgf("go-rabbitmq: "+f, v...) }
