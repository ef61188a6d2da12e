package rabbit

import (
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/rs/zerolog"
	rabbitmq "github.com/wagslane/go-rabbitmq"

	"github.com/parleychat/parley/shared/events"
)

// Unrouted names both the fanout exchange that is the alternate exchange of
// every OutboxExchanges exchange and the durable quorum queue bound to it.
// An event published where no queue is bound for its routing key lands
// there instead of being dropped, and waits for a person (see
// infra/rabbitmq/topology.md for inspecting and re-publishing it).
const Unrouted = "parley.unrouted"

// OutboxExchanges are the exchanges outbox relays publish to. Committed
// events must never be lost (the design's events section), so each is declared with
// alternate-exchange = Unrouted. parley.realtime is left out on purpose: its
// signals are ephemeral and an unroutable one may be dropped.
var OutboxExchanges = []string{events.ExchangeAuth, events.ExchangeUsers, events.ExchangeChat}

// alternateExchangeArg is the exchange argument RabbitMQ reads the
// alternate exchange from.
const alternateExchangeArg = "alternate-exchange"

// WithUnrouted replaces Unrouted and OutboxExchanges for this Conn: names
// is the alternate exchange and queue, exchanges the exchanges declared with
// it. It exists for tests, which need names of their own; services must not
// use it, since every declarer of an exchange has to use the same arguments.
func WithUnrouted(name string, exchanges ...string) Option {
	return func(o *options) {
		o.unrouted = name
		o.outboxExchanges = exchanges
	}
}

// topology is the one place that decides how an exchange is declared: by
// this package on a plain channel (declareExchanges) and by go-rabbitmq
// after each of its reconnects (consumerExchange). Every Parley service
// declares through it, so the declarations agree.
type topology struct {
	unrouted string
	kept     map[string]bool // declared with alternate-exchange = unrouted
	log      zerolog.Logger

	mu sync.Mutex
	// legacy holds kept exchanges the broker already has without the
	// argument (declared by an older release): they are used as they are.
	legacy map[string]bool
}

func newTopology(o options, log zerolog.Logger) *topology {
	t := &topology{unrouted: o.unrouted, kept: map[string]bool{}, log: log, legacy: map[string]bool{}}
	for _, x := range o.outboxExchanges {
		t.kept[x] = true
	}
	return t
}

// exchangeArgs are the declaration arguments of exchange name.
func (t *topology) exchangeArgs(name string) amqp.Table {
	if t.kept[name] {
		return amqp.Table{alternateExchangeArg: t.unrouted}
	}
	return nil
}

func (t *topology) isLegacy(name string) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.legacy[name]
}

func (t *topology) setLegacy(name string, legacy bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.legacy[name] = legacy
}

// consumerExchange is how go-rabbitmq declares b's exchange, now and after
// every reconnect: exactly as declareExchanges does, or not at all when the
// broker holds a legacy declaration that a redeclaration would clash with.
func (t *topology) consumerExchange(b Binding) rabbitmq.ExchangeOptions {
	return rabbitmq.ExchangeOptions{
		Name: b.Exchange, Kind: amqp.ExchangeTopic, Durable: true,
		Args:     rabbitmq.Table(t.exchangeArgs(b.Exchange)),
		Declare:  !t.isLegacy(b.Exchange),
		Bindings: []rabbitmq.Binding{{RoutingKey: b.Key, BindingOptions: rabbitmq.BindingOptions{Declare: true}}},
	}
}

// declareExchanges declares durable topic exchanges, first the Unrouted
// exchange and queue when one of them needs it, on a channel of its own
// because a failed declaration closes the channel it was made on.
//
// A kept exchange that exists without the alternate-exchange argument
// (PRECONDITION_FAILED) is not fatal: it is logged at error level with the
// fix and used as it is. Publishing still works; an event no queue is bound
// for is then returned to the publisher instead of kept, and the outbox
// relay holds it back until the exchange is re-declared.
func (t *topology) declareExchanges(conn *amqp.Connection, names []string) error {
	if len(names) == 0 {
		return nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer func() { _ = ch.Close() }()
	for _, n := range names {
		if t.kept[n] {
			if err := t.declareUnrouted(ch); err != nil {
				return err
			}
			break
		}
	}
	for _, n := range names {
		err := ch.ExchangeDeclare(n, amqp.ExchangeTopic, true, false, false, false, t.exchangeArgs(n))
		if err == nil {
			t.setLegacy(n, false)
			continue
		}
		if !t.kept[n] || !isPrecondition(err) {
			return fmt.Errorf("declare exchange %s: %w", n, err)
		}
		t.setLegacy(n, true)
		t.log.Error().Str("rabbitmq.exchange", n).Str("rabbitmq.alternate_exchange", t.unrouted).
			Str("error.message", err.Error()).
			Msgf("rabbitmq: exchange %s exists without alternate-exchange=%s (declared by an older release); "+
				"using it as it is, so events no queue is bound for stay unpublished in the outbox. "+
				"Fix: stop the services, delete the exchange (rabbitmqadmin delete exchange name=%s, "+
				"see infra/rabbitmq/topology.md), start them again", n, t.unrouted, n)
		// The failed declaration closed the channel.
		if ch, err = conn.Channel(); err != nil {
			return err
		}
	}
	return nil
}

// declareUnrouted declares the alternate exchange and its queue.
func (t *topology) declareUnrouted(ch *amqp.Channel) error {
	if err := ch.ExchangeDeclare(t.unrouted, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("declare exchange %s: %w", t.unrouted, err)
	}
	if _, err := ch.QueueDeclare(t.unrouted, true, false, false, false, unroutedQueueArgs()); err != nil {
		if isPrecondition(err) {
			return fmt.Errorf("declare queue %s: it exists with other arguments (delete it or use a policy): %w", t.unrouted, err)
		}
		return fmt.Errorf("declare queue %s: %w", t.unrouted, err)
	}
	if err := ch.QueueBind(t.unrouted, "", t.unrouted, false, nil); err != nil {
		return fmt.Errorf("bind %s: %w", t.unrouted, err)
	}
	return nil
}

// UnroutedTTL is how long an event waits in the unrouted queue.
const UnroutedTTL = 7 * 24 * time.Hour

// UnroutedMaxLength caps the unrouted queue; the oldest events go first.
const UnroutedMaxLength = 1_000_000

func unroutedQueueArgs() amqp.Table {
	return amqp.Table{
		amqp.QueueTypeArg: amqp.QueueTypeQuorum,
		// Chat deliveries published while no gateway is connected land here
		// too, so the queue is bounded: an event is kept for a week, and the
		// newest million at most (dropping the oldest, never refusing a
		// publish, which would stall every outbox behind it).
		"x-message-ttl": UnroutedTTL.Milliseconds(),
		"x-max-length":  UnroutedMaxLength,
		"x-overflow":    "drop-head",
	}
}

func isPrecondition(err error) bool {
	var ae *amqp.Error
	return errors.As(err, &ae) && ae.Code == amqp.PreconditionFailed
}
