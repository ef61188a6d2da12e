// Package events defines the envelope every Parley domain event travels in,
// the exchanges and routing keys, and the versioned payload types. Golden
// examples of every event live in testdata/ and are decoded by every
// consumer's tests.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/parleychat/parley/shared/trace"
)

// Exchanges, one durable topic exchange per producing service (see the
// design's events section).
const (
	ExchangeAuth       = "parley.auth"
	ExchangeUsers      = "parley.users"
	ExchangeChat       = "parley.chat"
	ExchangeRealtime   = "parley.realtime"
	ExchangeDeadLetter = "parley.dead-letter"
)

// Envelope wraps every event; Data holds the type-specific payload.
type Envelope struct {
	ID          string          `json:"id"`
	Type        string          `json:"type"`
	Version     int             `json:"version"`
	OccurredAt  time.Time       `json:"occurredAt"`
	Source      string          `json:"source"`
	Traceparent string          `json:"traceparent,omitempty"`
	Data        json.RawMessage `json:"data"`
}

// RoutingKey is the type plus version, e.g. auth.user.registered.v1.
func (e Envelope) RoutingKey() string { return fmt.Sprintf("%s.v%d", e.Type, e.Version) }

// New builds an envelope for data, taking the trace from ctx.
func New(ctx context.Context, source, typ string, version int, data any) (Envelope, error) {
	raw, err := json.Marshal(data)
	if err != nil {
		return Envelope{}, fmt.Errorf("encode %s: %w", typ, err)
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Envelope{}, err
	}
	tp := ""
	if tc, ok := trace.From(ctx); ok {
		tp = tc.Child().String()
	}
	return Envelope{
		ID:          id.String(),
		Type:        typ,
		Version:     version,
		OccurredAt:  time.Now().UTC(),
		Source:      source,
		Traceparent: tp,
		Data:        raw,
	}, nil
}

// ErrMalformed marks an envelope that can never be processed; consumers send
// it to the dead-letter queue without retrying.
var ErrMalformed = errors.New("malformed event")

// Decode parses and checks an envelope.
func Decode(body []byte) (Envelope, error) {
	var e Envelope
	if err := json.Unmarshal(body, &e); err != nil {
		return Envelope{}, fmt.Errorf("%w: %v", ErrMalformed, err)
	}
	switch {
	case e.ID == "":
		return Envelope{}, fmt.Errorf("%w: missing id", ErrMalformed)
	case e.Type == "" || e.Version < 1:
		return Envelope{}, fmt.Errorf("%w: missing type or version", ErrMalformed)
	case len(e.Data) == 0:
		return Envelope{}, fmt.Errorf("%w: missing data", ErrMalformed)
	case !storable(e.ID) || !storable(e.Type) || !storable(e.Source):
		// The id is recorded in processed_events: a NUL would fail every
		// retry instead of dead-lettering the event at once.
		return Envelope{}, fmt.Errorf("%w: id, type or source holds NUL", ErrMalformed)
	}
	return e, nil
}

// storable reports whether PostgreSQL text can hold s. Decoding has already
// replaced invalid UTF-8, so only NUL is left to refuse.
func storable(s string) bool { return !strings.ContainsRune(s, 0) }

// DecodeData unmarshals the payload into dst, marking failures malformed.
func (e Envelope) DecodeData(dst any) error {
	if err := json.Unmarshal(e.Data, dst); err != nil {
		return fmt.Errorf("%w: %s data: %v", ErrMalformed, e.RoutingKey(), err)
	}
	return nil
}
