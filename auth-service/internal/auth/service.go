package auth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/parleychat/parley/shared/events"
)

// ServiceName is auth-service's one name: the source of every event it
// publishes, its logs' service.name and its broker connection name.
const ServiceName = "auth-service"

// Config tunes the use cases; zero fields take the defaults from
// DefaultConfig.
type Config struct {
	AccessTTL  time.Duration // session (access) token lifetime
	RefreshTTL time.Duration // refresh token lifetime, renewed on every rotation
	// ReuseGrace is how long after a rotation the old refresh token still
	// yields the same successor (two tabs refreshing at once) instead of
	// revoking the family.
	ReuseGrace time.Duration
	// Leeway is the clock skew gateways allow on exp; revocations are kept
	// listed that much past the last token's expiry.
	Leeway time.Duration

	FailureWindow time.Duration // sliding window of the login throttles
	// AccountClientFailures bounds failed logins per (account, client IP):
	// the bound an attacker at one address meets first.
	AccountClientFailures int
	// AccountFailures bounds failed logins per account from every address
	// together. It is much higher than AccountClientFailures, so one
	// attacker cannot lock the owner out of their own address, yet a guess
	// spread over many addresses is still stopped.
	AccountFailures int
	IPFailures      int // failed logins per client IP within the window
	// SignupConflicts bounds signups per IP refused for a taken username or
	// email, so the 409 cannot be used to enumerate accounts at speed.
	SignupConflicts int

	// MaxSessions caps one account's active sessions: a new session beyond
	// it ends the oldest, which bounds what one user can make the service
	// and every gateway keep.
	MaxSessions int
	// SignupsPerIP caps accounts created from one client IP per
	// SignupWindow.
	SignupsPerIP int
	SignupWindow time.Duration

	// Now is the clock; tests replace it.
	Now func() time.Time
}

// DefaultConfig returns the production defaults.
func DefaultConfig() Config {
	return Config{
		AccessTTL:             15 * time.Minute,
		RefreshTTL:            30 * 24 * time.Hour,
		ReuseGrace:            10 * time.Second,
		Leeway:                5 * time.Second,
		FailureWindow:         15 * time.Minute,
		AccountClientFailures: 10,
		AccountFailures:       100,
		IPFailures:            50,
		SignupConflicts:       20,
		MaxSessions:           50,
		SignupsPerIP:          100,
		SignupWindow:          time.Hour,
		Now:                   time.Now,
	}
}

// Service implements auth-service's use cases.
type Service struct {
	store   Store
	limiter Limiter
	hasher  Hasher
	issuer  AccessIssuer
	cfg     Config
}

// NewService wires the use cases to their dependencies.
func NewService(store Store, limiter Limiter, hasher Hasher, issuer AccessIssuer, cfg Config) (*Service, error) {
	if store == nil || limiter == nil || hasher == nil || issuer == nil {
		return nil, errors.New("auth: store, limiter, hasher and issuer are required")
	}
	def := DefaultConfig()
	for _, d := range []struct {
		v   *time.Duration
		def time.Duration
	}{{&cfg.AccessTTL, def.AccessTTL}, {&cfg.RefreshTTL, def.RefreshTTL}, {&cfg.FailureWindow, def.FailureWindow}, {&cfg.SignupWindow, def.SignupWindow}} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	for _, d := range []struct {
		v   *int
		def int
	}{
		{&cfg.AccountClientFailures, def.AccountClientFailures}, {&cfg.AccountFailures, def.AccountFailures},
		{&cfg.IPFailures, def.IPFailures}, {&cfg.SignupConflicts, def.SignupConflicts},
		{&cfg.MaxSessions, def.MaxSessions}, {&cfg.SignupsPerIP, def.SignupsPerIP},
	} {
		if *d.v <= 0 {
			*d.v = d.def
		}
	}
	if cfg.ReuseGrace < 0 || cfg.Leeway < 0 {
		return nil, errors.New("auth: reuse grace and leeway must not be negative")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Service{store: store, limiter: limiter, hasher: hasher, issuer: issuer, cfg: cfg}, nil
}

// now returns the clock truncated to microseconds, PostgreSQL's precision,
// so a time written and read back compares equal.
func (s *Service) now() time.Time { return s.cfg.Now().UTC().Truncate(time.Microsecond) }

// revokedUntil is when the last access token minted before at stops being
// accepted by any gateway.
func (s *Service) revokedUntil(at time.Time) time.Time {
	return at.Add(s.cfg.AccessTTL + s.cfg.Leeway)
}

// openSession creates a session with its first refresh token inside tx and
// returns the grant for it (the access token is minted here too, so a
// signing failure rolls the session back).
func (s *Service) openSession(ctx context.Context, tx Tx, u User, c Client, now time.Time) (Grant, error) {
	id, err := uuid.NewV7()
	if err != nil {
		return Grant{}, err
	}
	sess := Session{
		ID: id.String(), UserID: u.ID, CreatedAt: now, LastUsedAt: now,
		ExpiresAt: now.Add(s.cfg.RefreshTTL), UserAgent: c.UserAgent, IP: c.IP,
	}
	if err := tx.CreateSession(ctx, sess); err != nil {
		return Grant{}, err
	}
	if err := s.evictOldSessions(ctx, tx, u.ID, now); err != nil {
		return Grant{}, err
	}
	raw, hash, err := newRefreshToken()
	if err != nil {
		return Grant{}, err
	}
	rt := RefreshToken{Hash: hash, SessionID: sess.ID, IssuedAt: now, ExpiresAt: sess.ExpiresAt}
	if err := tx.InsertRefreshToken(ctx, rt); err != nil {
		return Grant{}, err
	}
	return s.grant(u, sess, raw, rt.ExpiresAt, now)
}

// evictOldSessions ends the user's oldest active sessions beyond
// MaxSessions, with the usual revocation event so gateways drop them at
// once. Two logins committing together may each see the other's session
// as not yet there, overshooting the cap by one until the next login.
func (s *Service) evictOldSessions(ctx context.Context, tx Tx, userID string, now time.Time) error {
	ids, err := tx.SessionsBeyond(ctx, userID, s.cfg.MaxSessions, now)
	if err != nil || len(ids) == 0 {
		return err
	}
	return s.revoke(ctx, tx, userID, ids, ReasonSessionLimit, now)
}

// grant mints an access token for sess and assembles the answer.
func (s *Service) grant(u User, sess Session, refreshRaw string, refreshExp, now time.Time) (Grant, error) {
	// Whole seconds: JWT times have no fraction, and a token must never
	// claim to be issued before a password-change cutoff it postdates.
	iat := now.Truncate(time.Second)
	exp := iat.Add(s.cfg.AccessTTL)
	access, err := s.issuer.Issue(u.ID, sess.ID, iat, exp)
	if err != nil {
		return Grant{}, fmt.Errorf("auth: mint access token: %w", err)
	}
	return Grant{
		User: u, Session: sess,
		AccessToken: access, AccessExpiresAt: exp,
		RefreshToken: refreshRaw, RefreshExpiresAt: refreshExp,
	}, nil
}

// enqueue wraps data in an envelope and writes it to the outbox.
func enqueue(ctx context.Context, tx Tx, aggregateID, typ string, data any) error {
	ev, err := events.New(ctx, ServiceName, typ, 1, data)
	if err != nil {
		return err
	}
	return tx.Enqueue(ctx, events.ExchangeAuth, aggregateID, ev)
}

// revoke revokes sessions (all of the user's when ids is nil) and, if any
// were active, enqueues one auth.session.revoked event naming them.
func (s *Service) revoke(ctx context.Context, tx Tx, userID string, ids []string, reason string, now time.Time) error {
	revoked, err := tx.RevokeSessions(ctx, userID, ids, now, reason)
	if err != nil || len(revoked) == 0 {
		return err
	}
	return enqueue(ctx, tx, userID, events.TypeSessionRevoked, events.SessionRevokedV1{
		UserID: userID, SessionIDs: revoked, Reason: reason, RevokedUntil: s.revokedUntil(now),
	})
}

// userCaller checks that c is a signed-in user.
func userCaller(c Caller) error {
	if !canonicalID(c.UserID) {
		return ErrUnauthenticated
	}
	return nil
}

// canonicalID reports whether id is a UUID in the one spelling stored and
// published (lower case, hyphenated): the adapters canonicalize what comes
// from outside, so any other spelling here is not an id of ours.
func canonicalID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}
