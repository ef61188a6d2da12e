// Package revocation keeps the gateway's view of revoked sessions: session
// ids revoked before their tokens expire, and per-user password-change
// cut-offs. Every gateway instance fills it from auth-service's events and a
// start-up snapshot, so all instances refuse the same tokens.
package revocation

import (
	"sync"
	"sync/atomic"
	"time"
)

// Notice describes one revocation as it is applied, so transports holding
// long-lived connections (Socket.IO) can close the ones it covers.
type Notice struct {
	UserID string
	// SessionIDs are revoked sessions; empty for a password change.
	SessionIDs []string
	// Before, when non-zero, revokes every token of UserID issued before it.
	Before time.Time
}

// Covers reports whether a token of userID, session sid, issued at iat is
// revoked by n.
func (n Notice) Covers(userID, sid string, iat time.Time) bool {
	if userID != n.UserID {
		return false
	}
	for _, s := range n.SessionIDs {
		if s == sid {
			return true
		}
	}
	return !n.Before.IsZero() && issuedBefore(iat, n.Before)
}

type cutoff struct {
	before time.Time // tokens issued before it are revoked
	until  time.Time // when the entry may be forgotten
}

// Store is a concurrency-safe, in-memory revocation list. Entries are kept
// only until the tokens they revoke would have expired anyway, so its size
// is bounded by the revocations of one session-token lifetime.
type Store struct {
	now func() time.Time

	mu       sync.RWMutex
	sessions map[string]time.Time // sid → revoked until
	users    map[string]cutoff    // user id → password-change cut-off
	subs     []func(Notice)

	loaded atomic.Bool
}

// NewStore returns an empty store; now is the clock (nil: time.Now).
func NewStore(now func() time.Time) *Store {
	if now == nil {
		now = time.Now
	}
	return &Store{now: now, sessions: make(map[string]time.Time), users: make(map[string]cutoff)}
}

// Subscribe registers fn to be called (synchronously, outside the lock)
// with every revocation applied from now on.
func (s *Store) Subscribe(fn func(Notice)) {
	s.mu.Lock()
	s.subs = append(s.subs, fn)
	s.mu.Unlock()
}

// RevokeSessions refuses tokens of the listed sessions until until.
// Applying the same revocation twice is harmless, so at-least-once delivery
// and the snapshot/event overlap at start-up need no deduplication.
func (s *Store) RevokeSessions(userID string, sids []string, until time.Time) {
	if len(sids) == 0 || !until.After(s.now()) {
		return
	}
	s.mu.Lock()
	for _, sid := range sids {
		if sid != "" && until.After(s.sessions[sid]) {
			s.sessions[sid] = until
		}
	}
	subs := s.subs
	s.mu.Unlock()
	notify(subs, Notice{UserID: userID, SessionIDs: sids})
}

// RevokeUserBefore refuses every token of userID issued before before,
// until until (when the last such token has expired).
func (s *Store) RevokeUserBefore(userID string, before, until time.Time) {
	if userID == "" || before.IsZero() || !until.After(s.now()) {
		return
	}
	s.mu.Lock()
	cur := s.users[userID]
	if before.After(cur.before) {
		cur.before = before
	}
	if until.After(cur.until) {
		cur.until = until
	}
	s.users[userID] = cur
	subs := s.subs
	s.mu.Unlock()
	notify(subs, Notice{UserID: userID, Before: before})
}

// Revoked reports whether a session token of userID in session sid issued
// at iat has been revoked.
func (s *Store) Revoked(userID, sid string, iat time.Time) bool {
	now := s.now()
	s.mu.RLock()
	until, sidListed := s.sessions[sid]
	cut, userListed := s.users[userID]
	s.mu.RUnlock()
	if sidListed && until.After(now) {
		return true
	}
	return userListed && cut.until.After(now) && issuedBefore(iat, cut.before)
}

// Prune forgets entries whose tokens have all expired and returns how many
// remain.
func (s *Store) Prune() int {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	for sid, until := range s.sessions {
		if !until.After(now) {
			delete(s.sessions, sid)
		}
	}
	for uid, c := range s.users {
		if !c.until.After(now) {
			delete(s.users, uid)
		}
	}
	return len(s.sessions) + len(s.users)
}

// MarkLoaded records that the start-up snapshot has been applied.
func (s *Store) MarkLoaded() { s.loaded.Store(true) }

// Loaded reports whether the start-up snapshot has been applied; until then
// the gateway cannot know which sessions were revoked while it was down.
func (s *Store) Loaded() bool { return s.loaded.Load() }

// issuedBefore compares at JWT precision: iat is whole seconds, so a token
// minted in the same second as the cut-off (the new session a password
// change hands back) is not revoked. Older sessions of that second are
// still caught by their session-revoked event.
func issuedBefore(iat, cut time.Time) bool {
	return iat.Before(cut.Truncate(time.Second))
}

func notify(subs []func(Notice), n Notice) {
	for _, fn := range subs {
		fn(n)
	}
}
