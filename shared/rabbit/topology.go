package rabbit

import (
	"fmt"
	"slices"
	"strings"

	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/parleychat/parley/shared/events"
)

// Exchanges lists every Parley exchange; all are durable topic exchanges,
// and those in OutboxExchanges have the Unrouted alternate exchange.
var Exchanges = []string{
	events.ExchangeAuth,
	events.ExchangeUsers,
	events.ExchangeChat,
	events.ExchangeRealtime,
	events.ExchangeDeadLetter,
}

// Binding subscribes a queue to the routing keys matching Key on Exchange.
type Binding struct {
	Exchange string
	Key      string // topic pattern, e.g. auth.user.registered.v1 or chat.#
}

// QueueName is <consumer>.<purpose>, e.g. user-service.profiles.
func QueueName(consumer, purpose string) string { return consumer + "." + purpose }

// RetryQueue holds failed events for their backoff delay, then dead-letters
// them back into queue.
func RetryQueue(queue string) string { return queue + ".retry" }

// DeadQueue holds the events queue gave up on, for a person to inspect.
func DeadQueue(queue string) string { return queue + ".dead" }

// bindingExchanges lists the exchanges of bindings, each once.
func bindingExchanges(bindings []Binding) []string {
	var names []string
	for _, b := range bindings {
		if !slices.Contains(names, b.Exchange) {
			names = append(names, b.Exchange)
		}
	}
	return names
}

func validName(s string) error {
	if s == "" || strings.ContainsAny(s, " #*") || strings.HasPrefix(s, "amq.") {
		return fmt.Errorf("rabbit: invalid queue name part %q", s)
	}
	return nil
}

// mainQueueArgs are the arguments of a consumer's durable queue. Changing
// them on an existing queue makes the declaration fail (PRECONDITION_FAILED):
// delete the queue or move the setting into a policy first.
func mainQueueArgs(queue string, deliveryLimit int) amqp.Table {
	return amqp.Table{
		amqp.QueueTypeArg: amqp.QueueTypeQuorum,
		// Nacked (rejected) messages and those past the delivery limit go to
		// the dead-letter exchange, keyed by queue so each consumer's dead
		// queue receives only its own.
		"x-dead-letter-exchange":    events.ExchangeDeadLetter,
		"x-dead-letter-routing-key": queue,
		// A guard against messages that crash the consumer before it can
		// count attempts itself; ordinary failures are counted by the
		// consumer and stop at MaxAttempts.
		"x-delivery-limit": int32(deliveryLimit),
		// Quorum queues dead-letter at most once by default; at-least-once
		// keeps the message until the dead queue confirms it.
		"x-dead-letter-strategy": "at-least-once",
		"x-overflow":             "reject-publish",
	}
}

func retryQueueArgs(queue string) amqp.Table {
	return amqp.Table{
		amqp.QueueTypeArg: amqp.QueueTypeQuorum,
		// Expired messages go back to the main queue via the default
		// exchange, which routes by queue name.
		"x-dead-letter-exchange":    "",
		"x-dead-letter-routing-key": queue,
		"x-dead-letter-strategy":    "at-least-once",
		"x-overflow":                "reject-publish",
	}
}

func deadQueueArgs() amqp.Table {
	return amqp.Table{amqp.QueueTypeArg: amqp.QueueTypeQuorum}
}

// declareConsumerTopology declares everything a durable consumer needs: the
// exchanges it binds to, the dead-letter exchange, its queue, retry queue
// and dead queue, and the bindings.
func declareConsumerTopology(topo *topology, conn *amqp.Connection, queue string, deliveryLimit int, bindings []Binding) error {
	exchanges := append([]string{events.ExchangeDeadLetter}, bindingExchanges(bindings)...)
	if err := topo.declareExchanges(conn, exchanges); err != nil {
		return err
	}
	ch, err := conn.Channel()
	if err != nil {
		return err
	}
	defer ch.Close()
	declare := func(name string, args amqp.Table) error {
		if _, err := ch.QueueDeclare(name, true, false, false, false, args); err != nil {
			if isPrecondition(err) {
				return fmt.Errorf("declare queue %s: it exists with other arguments (delete it or use a policy): %w", name, err)
			}
			return fmt.Errorf("declare queue %s: %w", name, err)
		}
		return nil
	}
	if err := declare(DeadQueue(queue), deadQueueArgs()); err != nil {
		return err
	}
	if err := ch.QueueBind(DeadQueue(queue), queue, events.ExchangeDeadLetter, false, nil); err != nil {
		return fmt.Errorf("bind %s: %w", DeadQueue(queue), err)
	}
	if err := declare(queue, mainQueueArgs(queue, deliveryLimit)); err != nil {
		return err
	}
	if err := declare(RetryQueue(queue), retryQueueArgs(queue)); err != nil {
		return err
	}
	for _, b := range bindings {
		if err := ch.QueueBind(queue, b.Key, b.Exchange, false, nil); err != nil {
			return fmt.Errorf("bind %s to %s %s: %w", queue, b.Exchange, b.Key, err)
		}
	}
	return nil
}
