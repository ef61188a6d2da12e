// Package rabbit is Parley's one way to talk to RabbitMQ (see the design's
// events section).
//
// A service dials once (Dial) and gets a Conn holding two AMQP connections:
// one for consuming, managed by wagslane/go-rabbitmq (which reconnects and
// re-declares its queue after a broker restart), and one for publishing,
// managed here on amqp091 because the publisher must tie every basic.return
// to the publish it belongs to, something go-rabbitmq's return callback
// cannot do without a race. Keeping publishing and consuming on separate
// connections is also what RabbitMQ recommends: flow control on a busy
// publisher never stalls the consumers' acks.
//
// Publishing (Publisher.Publish) is always persistent, mandatory and
// confirmed: it returns only once the broker has taken responsibility for
// the message, and reports nacks, timeouts and unroutable messages
// (ErrUnroutable) as errors.
//
// Exchanges are declared in one place (Conn.DeclareExchanges, and the
// consumers' declarations go through the same code). The outbox exchanges
// (OutboxExchanges) carry alternate-exchange = Unrouted, so an event no
// queue is bound for is kept in the parley.unrouted queue instead of being
// returned: nothing committed is dropped for lack of a consumer.
//
// Consuming (NewConsumer) uses a durable quorum queue named
// <consumer>.<purpose> with manual acks and a bounded prefetch. A failing
// event is retried through <queue>.retry (per-message TTL, exponential
// backoff) so it never blocks the events behind it; after MaxAttempts, or at
// once when it is malformed, it goes to the parley.dead-letter exchange and
// from there to <queue>.dead for a person to inspect. Idempotency is the
// handler's job, with outbox.ProcessOnce recording the event id in the same
// database transaction as the side effect.
//
// Gateways use NewInstanceConsumer instead: a durable queue private to one
// running instance, with an expiry so it outlives a dropped connection, and
// re-attached (or, when it was lost, created again and reported) after
// every reconnect.
//
// The topology is documented in infra/rabbitmq/topology.md.
package rabbit
