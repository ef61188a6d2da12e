package rabbitmq

import (
	"context"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/postgres"
	"github.com/parleychat/parley/shared/rabbit"
)

// Consumers runs chat-service's two consumers: the user directory and the
// gateway presence heartbeats.
type Consumers struct {
	conn     *rabbit.Conn
	store    *postgres.Store
	presence *chat.Presence
	log      zerolog.Logger
}

// NewConsumers declares the consumers' topology.
func NewConsumers(ctx context.Context, conn *rabbit.Conn, store *postgres.Store, presence *chat.Presence, log zerolog.Logger) (*Consumers, error) {
	return &Consumers{conn: conn, store: store, presence: presence, log: log}, nil
}

// Run consumes until ctx ends.
func (c *Consumers) Run(ctx context.Context) {
	// TODO(chat-service): consume with shared/rabbit's consumer once it lands.
	<-ctx.Done()
}
