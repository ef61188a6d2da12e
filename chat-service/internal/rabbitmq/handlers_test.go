package rabbitmq_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/rabbitmq"
	"github.com/parleychat/parley/shared/events"
)

// nopStore fails the test if a malformed event reaches the database.
type nopStore struct{ t *testing.T }

func (s nopStore) ApplyUserEvent(context.Context, string, string, chat.User) (bool, error) {
	s.t.Error("a malformed event reached the store")
	return false, nil
}

func TestMalformedUserEventsAreDeadLettered(t *testing.T) {
	t.Parallel()
	d := rabbitmq.UserDirectory{Store: nopStore{t}, Consumer: "c"}
	now := time.Now()
	cases := []struct {
		name string
		env  events.Envelope
	}{
		{"unexpected type", envelope(t, "users.something.else", map[string]string{}, now)},
		{"no user id", envelope(t, events.TypeUserRegistered, events.UserRegisteredV1{Username: "x", CreatedAt: now}, now)},
		{"bad user id", envelope(t, events.TypeUserRegistered, events.UserRegisteredV1{UserID: "42", Username: "x", CreatedAt: now}, now)},
		{"no time", envelope(t, events.TypeProfileUpdated, events.ProfileUpdatedV1{UserID: "0190b6c4-0000-7000-8000-000000000000", Username: "x"}, now)},
		{"wrong data type", envelope(t, events.TypeProfileUpdated, []int{1}, now)},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := d.Handle(context.Background(), tc.env); !errors.Is(err, events.ErrMalformed) {
				t.Errorf("err = %v, want ErrMalformed", err)
			}
		})
	}
}
