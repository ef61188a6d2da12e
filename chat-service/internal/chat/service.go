package chat

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/parleychat/parley/shared/events"
)

// ServiceName is chat-service's one name: the source of every event it
// produces and its name in logs, health and the broker.
const ServiceName = "chat-service"

// Realtime publishes ephemeral signals (typing) straight to the broker,
// without the outbox: losing one is harmless, delaying one is not.
type Realtime interface {
	Publish(ctx context.Context, eventType string, d events.Delivery) error
}

// Config tunes the use cases.
type Config struct {
	// MessageRate and MessageBurst bound how fast one user may send, edit,
	// delete or react (per instance).
	MessageRate  float64
	MessageBurst int
	// TypingRate and TypingBurst bound typing signals; excess ones are
	// dropped silently.
	TypingRate  float64
	TypingBurst int
	// SyncEventCap is the most events Sync returns per conversation, and
	// SyncTotalCap the most in one answer.
	SyncEventCap int
	SyncTotalCap int
	// UnknownUserWait is how long creating a conversation waits for the user
	// replica to learn about a member it does not know yet (the
	// registration event may be a moment behind the client).
	UnknownUserWait time.Duration
	// SendLatencyTarget is the latency (queue wait and commit) the group
	// commit's adaptive limit keeps admitted sends under (group.go); sends
	// over the limit are refused at once with ErrOverloaded. Negative: no
	// adaptive limit, only the queue's length.
	SendLatencyTarget time.Duration
}

// DefaultConfig is 10 messages/s with bursts of 20 per user.
var DefaultConfig = Config{
	MessageRate:       10,
	MessageBurst:      20,
	TypingRate:        2,
	TypingBurst:       5,
	SyncEventCap:      500,
	SendLatencyTarget: 100 * time.Millisecond,
	SyncTotalCap:      5000,
	UnknownUserWait:   2 * time.Second,
}

// Service runs chat's use cases.
type Service struct {
	store    Store
	realtime Realtime
	cfg      Config
	messages *Limiter
	typing   *Limiter
	now      func() time.Time
	// sends group-commits message sends (group.go).
	sends *group
}

// NewService returns the use cases over store; realtime may be nil when
// typing signals are not needed (tests of other use cases).
func NewService(store Store, realtime Realtime, cfg Config) *Service {
	if cfg.SyncEventCap <= 0 {
		cfg.SyncEventCap = DefaultConfig.SyncEventCap
	}
	if cfg.SyncTotalCap <= 0 {
		cfg.SyncTotalCap = max(DefaultConfig.SyncTotalCap, cfg.SyncEventCap)
	}
	s := &Service{
		store:    store,
		realtime: realtime,
		cfg:      cfg,
		messages: NewLimiter(cfg.MessageRate, cfg.MessageBurst),
		typing:   NewLimiter(cfg.TypingRate, cfg.TypingBurst),
		now:      now,
	}
	if cfg.SendLatencyTarget == 0 {
		cfg.SendLatencyTarget = DefaultConfig.SendLatencyTarget
		s.cfg.SendLatencyTarget = cfg.SendLatencyTarget
	}
	s.sends = newGroup(sendRunners, sendMaxBatch, sendMaxQueue, cfg.SendLatencyTarget, s.commitSends)
	return s
}

// now is the clock, truncated to PostgreSQL's precision so that payloads
// built in memory equal what a later read returns.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

// newID returns a UUIDv7 string.
func newID() (string, error) {
	u, err := uuid.NewV7()
	if err != nil {
		return "", fmt.Errorf("chat: new id: %w", err)
	}
	return u.String(), nil
}

// allowMessage applies the per-user flood control to message changes.
func (s *Service) allowMessage(userID string) error {
	if s.cfg.MessageRate <= 0 {
		return nil
	}
	if ok, after := s.messages.Allow(userID); !ok {
		return rateLimited(after)
	}
	return nil
}

// record appends a change-log entry for eventSeq and enqueues its delivery
// to every current member plus extra (a removed member).
func (s *Service) record(ctx context.Context, tx Tx, convID string, eventSeq int64, typ string, payload any, extra ...string) error {
	recipients, err := tx.MemberIDs(ctx, convID)
	if err != nil {
		return err
	}
	return s.recordTo(ctx, tx, convID, eventSeq, typ, payload, append(recipients, extra...))
}

// recordTo is record with the recipients already known.
func (s *Service) recordTo(ctx context.Context, tx Tx, convID string, eventSeq int64, typ string, payload any, recipients []string) error {
	raw, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("chat: encode %s: %w", typ, err)
	}
	return tx.AppendEvent(ctx, Event{
		ConversationID: convID,
		EventSeq:       eventSeq,
		Type:           typ,
		Payload:        raw,
		CreatedAt:      s.now(),
		Recipients:     recipients,
	})
}

// isNoChange reports whether err is the rollback marker of an idempotent
// no-op.
func isNoChange(err error) bool { return errors.Is(err, errRollbackNoError) }
