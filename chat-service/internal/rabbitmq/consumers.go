package rabbitmq

import (
	"context"
	"sync"
	"time"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/rabbit"
)

// Consumers are chat-service's durable consumers: the user directory and
// the gateway presence heartbeats.
type Consumers struct {
	directory *rabbit.Consumer
	presence  *rabbit.Consumer
}

// All returns both consumers, for their metrics.
func (c *Consumers) All() []*rabbit.Consumer { return []*rabbit.Consumer{c.directory, c.presence} }

// NewConsumers declares both queues (<name>.user-directory and
// <name>.presence); name is "chat-service" except in tests that need
// queues of their own.
func NewConsumers(ctx context.Context, conn *rabbit.Conn, name string, users UserStore, presence *chat.Presence) (*Consumers, error) {
	dir := UserDirectory{Store: users, Consumer: rabbit.QueueName(name, PurposeUserDirectory)}
	d, err := rabbit.NewConsumer(ctx, conn, rabbit.ConsumerConfig{
		Consumer: name,
		Purpose:  PurposeUserDirectory,
		Bindings: []rabbit.Binding{
			{Exchange: events.ExchangeAuth, Key: events.TypeUserRegistered + ".v1"},
			{Exchange: events.ExchangeUsers, Key: events.TypeProfileUpdated + ".v1"},
		},
	}, dir.Handle)
	if err != nil {
		return nil, err
	}
	p, err := rabbit.NewConsumer(ctx, conn, rabbit.ConsumerConfig{
		Consumer: name,
		Purpose:  PurposePresence,
		Bindings: []rabbit.Binding{{Exchange: events.ExchangeRealtime, Key: events.TypeGatewayPresence + ".v1"}},
		// Heartbeats are superseded every few seconds: retry briefly, then
		// let the next one (or the sweeper) set things right.
		MaxAttempts:   2,
		RetryDelay:    500 * time.Millisecond,
		MaxRetryDelay: time.Second,
		// One at a time: heartbeats serialise on one lock anyway, and order
		// matters (an older report must not overwrite a newer one).
		Concurrency: 1,
	}, GatewayPresence{Presence: presence}.Handle)
	if err != nil {
		return nil, err
	}
	return &Consumers{directory: d, presence: p}, nil
}

// Run consumes until ctx ends, then drains both consumers.
func (c *Consumers) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { _ = c.directory.Run(ctx) })
	wg.Go(func() { _ = c.presence.Run(ctx) })
	wg.Wait()
}
