package chat

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/input"
)

// PresenceChange is one user going online or offline.
type PresenceChange struct {
	UserID     string    `json:"userId"`
	Online     bool      `json:"online"`
	LastSeenAt time.Time `json:"lastSeenAt"`
}

// PresenceStore keeps which gateways hold which users, shared by every
// chat-service instance, and reports transitions.
type PresenceStore interface {
	// Heartbeat records that gatewayID holds exactly users until expires,
	// and returns the users who came online or went offline because of it.
	// A heartbeat sent before the newest one applied for the gateway is
	// ignored.
	Heartbeat(ctx context.Context, gatewayID string, users []string, sentAt, expires, now time.Time) ([]PresenceChange, error)
	// ExpirePresence forgets gateway sessions past their expiry (crashed
	// gateways) and returns the users who went offline.
	ExpirePresence(ctx context.Context, now time.Time) ([]PresenceChange, error)
	// Contacts lists the users sharing at least one conversation with userID.
	Contacts(ctx context.Context, userID string) ([]string, error)
}

// Presence turns gateway heartbeats into realtime.presence events: a user
// is online while at least one gateway reports a socket of theirs, across
// devices and gateway instances, and goes offline when the last one stops
// reporting them or stops reporting at all (TTL).
type Presence struct {
	store    PresenceStore
	realtime Realtime
	now      func() time.Time
}

// Heartbeat TTL bounds: a gateway that asks for none gets the default, one
// that asks for hours cannot keep crashed users online that long.
const (
	DefaultPresenceTTL = 30 * time.Second
	MaxPresenceTTL     = 5 * time.Minute
)

// NewPresence returns the presence use cases.
func NewPresence(store PresenceStore, realtime Realtime) *Presence {
	return &Presence{store: store, realtime: realtime, now: now}
}

// Heartbeat applies one gateway heartbeat sent at sentAt (the envelope's
// occurredAt; zero means now) and publishes the transitions.
func (p *Presence) Heartbeat(ctx context.Context, hb events.GatewayPresenceV1, sentAt time.Time) error {
	if hb.GatewayID == "" {
		return errors.New("chat: presence heartbeat without gatewayId")
	}
	ttl := time.Duration(hb.TTLSeconds) * time.Second
	if ttl <= 0 {
		ttl = DefaultPresenceTTL
	}
	ttl = min(ttl, MaxPresenceTTL)
	users := make([]string, 0, len(hb.Users))
	seen := make(map[string]bool, len(hb.Users))
	for _, raw := range hb.Users {
		if id, ok := input.ParseID(raw); ok && !seen[id] {
			seen[id] = true
			users = append(users, id)
		}
	}
	now := p.now()
	if sentAt.IsZero() {
		sentAt = now
	}
	changes, err := p.store.Heartbeat(ctx, hb.GatewayID, users, sentAt, now.Add(ttl), now)
	if err != nil {
		return err
	}
	return p.publish(ctx, changes)
}

// Sweep expires the sessions of gateways that stopped reporting. It is safe
// to run on every instance at once.
func (p *Presence) Sweep(ctx context.Context) error {
	changes, err := p.store.ExpirePresence(ctx, p.now())
	if err != nil {
		return err
	}
	return p.publish(ctx, changes)
}

// publish fans each change out to the user's contacts. Presence is
// ephemeral: a change whose publication fails is reported, not retried
// (the state is already committed and the next transition corrects it).
func (p *Presence) publish(ctx context.Context, changes []PresenceChange) error {
	var errs []error
	for _, c := range changes {
		contacts, err := p.store.Contacts(ctx, c.UserID)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if len(contacts) == 0 || p.realtime == nil {
			continue
		}
		payload, err := json.Marshal(c)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if err := p.realtime.Publish(ctx, events.TypePresence, events.Delivery{Recipients: contacts, Payload: payload}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
