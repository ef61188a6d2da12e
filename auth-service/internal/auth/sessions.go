package auth

import (
	"context"
	"errors"
	"time"

	"github.com/parleychat/parley/shared/events"
)

// Logout revokes the caller's session: the one named by the internal
// token's sid or, when the gateway sent none (say the access token had
// already expired), the one refreshToken belongs to. It is idempotent:
// nothing to revoke is not an error, since the caller is logged out either
// way.
func (s *Service) Logout(ctx context.Context, caller Caller, refreshToken string) error {
	sessionID, userID := "", ""
	if userCaller(caller) == nil && caller.SessionID != "" {
		sessionID, userID = caller.SessionID, caller.UserID
	} else if wellFormedRefreshToken(refreshToken) {
		sess, err := s.store.SessionByRefreshHash(ctx, hashRefreshToken(refreshToken))
		if errors.Is(err, ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		// A signed-in caller may only end their own session.
		if userCaller(caller) == nil && sess.UserID != caller.UserID {
			return nil
		}
		sessionID, userID = sess.ID, sess.UserID
	}
	if sessionID == "" {
		return nil
	}
	if !canonicalID(sessionID) {
		return nil
	}
	now := s.now()
	return s.store.InTx(ctx, func(tx Tx) error {
		return s.revoke(ctx, tx, userID, []string{sessionID}, ReasonLogout, now)
	})
}

// Me returns the calling user.
func (s *Service) Me(ctx context.Context, caller Caller) (User, error) {
	if err := userCaller(caller); err != nil {
		return User{}, err
	}
	u, err := s.store.UserByID(ctx, caller.UserID)
	if errors.Is(err, ErrNotFound) {
		// The token names an account that no longer exists.
		return User{}, ErrUnauthenticated
	}
	return u, err
}

// Sessions lists the caller's active sessions, flagging the current one.
func (s *Service) Sessions(ctx context.Context, caller Caller) ([]SessionView, error) {
	if err := userCaller(caller); err != nil {
		return nil, err
	}
	list, err := s.store.ActiveSessions(ctx, caller.UserID, s.now())
	if err != nil {
		return nil, err
	}
	out := make([]SessionView, len(list))
	for i, sess := range list {
		out[i] = SessionView{Session: sess, Current: sess.ID == caller.SessionID}
	}
	return out, nil
}

// RevokeSession ends one of the caller's sessions (possibly the current
// one). A session of another user is ErrNotFound, so ids cannot be probed;
// revoking an already-ended session of one's own succeeds.
func (s *Service) RevokeSession(ctx context.Context, caller Caller, sessionID string) error {
	if err := userCaller(caller); err != nil {
		return err
	}
	if !canonicalID(sessionID) {
		return ErrNotFound
	}
	now := s.now()
	return s.store.InTx(ctx, func(tx Tx) error {
		sess, err := tx.SessionForUpdate(ctx, sessionID)
		if err != nil {
			return err
		}
		if sess.UserID != caller.UserID {
			return ErrNotFound
		}
		return s.revoke(ctx, tx, caller.UserID, []string{sessionID}, ReasonRevoked, now)
	})
}

// Revocations is what a starting gateway needs to refuse access tokens
// revoked while it was not listening: sessions revoked, and passwords
// changed, recently enough that tokens minted before may still be unexpired.
type Revocations struct {
	Sessions        []events.SessionRevokedV1
	PasswordChanges []events.PasswordChangedV1
	GeneratedAt     time.Time
}

// Revocations lists the revocations still in force.
func (s *Service) Revocations(ctx context.Context) (Revocations, error) {
	now := s.now()
	since := now.Add(-(s.cfg.AccessTTL + s.cfg.Leeway))
	revoked, err := s.store.RevokedSince(ctx, since)
	if err != nil {
		return Revocations{}, err
	}
	changed, err := s.store.PasswordsChangedSince(ctx, since)
	if err != nil {
		return Revocations{}, err
	}
	out := Revocations{
		Sessions:        make([]events.SessionRevokedV1, 0, len(revoked)),
		PasswordChanges: make([]events.PasswordChangedV1, 0, len(changed)),
		GeneratedAt:     now,
	}
	for _, sess := range revoked {
		out.Sessions = append(out.Sessions, events.SessionRevokedV1{
			UserID: sess.UserID, SessionIDs: []string{sess.ID}, Reason: sess.RevokeReason,
			RevokedUntil: s.revokedUntil(sess.RevokedAt),
		})
	}
	for _, u := range changed {
		out.PasswordChanges = append(out.PasswordChanges, events.PasswordChangedV1{
			UserID: u.ID, ChangedAt: u.PasswordChangedAt, RevokedUntil: s.revokedUntil(u.PasswordChangedAt),
		})
	}
	return out, nil
}
