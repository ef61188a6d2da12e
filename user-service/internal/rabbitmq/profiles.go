// Package rabbitmq connects user-service's domain to RabbitMQ: the consumer
// that creates profiles from auth.user.registered.v1.
package rabbitmq

import (
	"context"
	"errors"
	"fmt"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/input"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/user-service/internal/users"
)

// Purpose names the profiles queue, <consumer>.profiles (the consumer being
// users.ServiceName unless configured otherwise).
const Purpose = "profiles"

// registeredKey is the one routing key the profiles queue is bound to.
var registeredKey = events.TypeUserRegistered + ".v1"

// Registrar creates profiles; *users.Service is one.
type Registrar interface {
	Register(ctx context.Context, consumer, eventID string, p users.NewProfile) (bool, error)
}

// NewProfilesConsumer declares user-service.profiles (bound to parley.auth
// auth.user.registered.v1, with its retry and dead queues) and returns its
// consumer. Zero fields of cfg take these names and shared/rabbit's
// defaults; tests set Consumer and Bindings to stay apart from a running
// user-service.
func NewProfilesConsumer(ctx context.Context, conn *rabbit.Conn, reg Registrar, cfg rabbit.ConsumerConfig) (*rabbit.Consumer, error) {
	if cfg.Consumer == "" {
		cfg.Consumer = users.ServiceName
	}
	if cfg.Purpose == "" {
		cfg.Purpose = Purpose
	}
	if len(cfg.Bindings) == 0 {
		cfg.Bindings = []rabbit.Binding{{Exchange: events.ExchangeAuth, Key: registeredKey}}
	}
	queue := rabbit.QueueName(cfg.Consumer, cfg.Purpose)
	return rabbit.NewConsumer(ctx, conn, cfg, ProfilesHandler(reg, queue))
}

// ProfilesHandler creates one profile per auth.user.registered.v1 event.
// An event that can never make a profile (wrong type, undecodable data, no
// user id) is malformed and goes to the dead-letter queue at once; database
// errors are retried.
// queue names the consumer in processed_events.
func ProfilesHandler(reg Registrar, queue string) rabbit.Handler {
	return func(ctx context.Context, ev events.Envelope) error {
		if ev.RoutingKey() != registeredKey {
			return fmt.Errorf("%w: %s does not belong on %s", events.ErrMalformed, ev.RoutingKey(), queue)
		}
		var data events.UserRegisteredV1
		if err := ev.DecodeData(&data); err != nil {
			return err
		}
		// Ids are canonicalized here, at the edge; one the domain still
		// refuses makes the event malformed.
		if id, ok := input.ParseID(data.UserID); ok {
			data.UserID = id
		}
		created, err := reg.Register(ctx, queue, ev.ID, users.NewProfile{
			UserID: data.UserID, Username: data.Username, CreatedAt: data.CreatedAt,
		})
		var invalid *users.InvalidError
		if errors.As(err, &invalid) {
			return fmt.Errorf("%w: %v", events.ErrMalformed, err)
		}
		if err != nil {
			return err
		}
		zerolog.Ctx(ctx).Debug().Str("user.id", data.UserID).Bool("created", created).Msg("profile registered")
		return nil
	}
}
