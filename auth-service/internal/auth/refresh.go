package auth

import (
	"context"
	"errors"
	"time"
)

// maxGraceHops bounds how far Refresh follows a chain of rotations during
// the grace; a handful of tabs refreshing at once never needs more.
const maxGraceHops = 8

// Refresh exchanges a refresh token for a new access token and a new
// refresh token (rotation).
//
// Presenting a token that was already rotated is treated in two ways. Within
// ReuseGrace of its rotation (two tabs refreshing at once), the caller gets
// the SAME successor the first caller got — unsealed from the old row with a
// key derived from the token presented — and a fresh access token, so both
// tabs end up holding one valid refresh token. After the grace it is taken
// as theft: the whole session (the token family) is revoked, an
// auth.session.revoked event is written, and ErrRefreshTokenReused returned.
func (s *Service) Refresh(ctx context.Context, raw string, c Client) (Grant, error) {
	if !wellFormedRefreshToken(raw) {
		return Grant{}, ErrInvalidRefreshToken
	}
	now := s.now()
	var (
		g       Grant
		outcome error // returned after a commit, e.g. reuse after revoking
	)
	err := s.store.InTx(ctx, func(tx Tx) error {
		rt, err := tx.RefreshTokenForUpdate(ctx, hashRefreshToken(raw))
		if errors.Is(err, ErrNotFound) {
			outcome = ErrInvalidRefreshToken
			return nil
		}
		if err != nil {
			return err
		}
		sess, err := tx.SessionForUpdate(ctx, rt.SessionID)
		if err != nil {
			return err
		}
		if !sess.Active(now) || !now.Before(rt.ExpiresAt) {
			outcome = ErrInvalidRefreshToken
			return nil
		}
		u, err := tx.UserByIDForUpdate(ctx, sess.UserID)
		if err != nil {
			return err
		}
		switch {
		case rt.UsedAt.IsZero():
			g, err = s.rotate(ctx, tx, u, sess, rt, raw, c, now)
			return err
		case now.Sub(rt.UsedAt) <= s.cfg.ReuseGrace:
			headRaw, head, err := followChain(ctx, tx, rt, raw)
			if err != nil {
				return err
			}
			g, err = s.grant(u, sess, headRaw, head.ExpiresAt, now)
			return err
		default:
			outcome = ErrRefreshTokenReused
			return s.revoke(ctx, tx, sess.UserID, []string{sess.ID}, ReasonReuseDetected, now)
		}
	})
	if err != nil {
		return Grant{}, err
	}
	if outcome != nil {
		return Grant{}, outcome
	}
	return g, nil
}

// rotate marks rt used, mints and stores its successor, and extends the
// session.
func (s *Service) rotate(ctx context.Context, tx Tx, u User, sess Session, rt RefreshToken, raw string, c Client, now time.Time) (Grant, error) {
	nextRaw, nextHash, err := newRefreshToken()
	if err != nil {
		return Grant{}, err
	}
	sealed, err := seal(raw, nextRaw)
	if err != nil {
		return Grant{}, err
	}
	if err := tx.MarkRefreshTokenUsed(ctx, rt.Hash, now, nextHash, sealed); err != nil {
		return Grant{}, err
	}
	next := RefreshToken{Hash: nextHash, SessionID: sess.ID, IssuedAt: now, ExpiresAt: now.Add(s.cfg.RefreshTTL)}
	if err := tx.InsertRefreshToken(ctx, next); err != nil {
		return Grant{}, err
	}
	if err := tx.TouchSession(ctx, sess.ID, now, next.ExpiresAt, c); err != nil {
		return Grant{}, err
	}
	sess.LastUsedAt, sess.ExpiresAt = now, next.ExpiresAt
	if c.IP != "" {
		sess.IP = c.IP
	}
	if c.UserAgent != "" {
		sess.UserAgent = c.UserAgent
	}
	return s.grant(u, sess, nextRaw, next.ExpiresAt, now)
}

// followChain walks from a rotated token to the newest token of its chain,
// unsealing each successor with the token before it.
func followChain(ctx context.Context, tx Tx, rt RefreshToken, raw string) (string, RefreshToken, error) {
	for range maxGraceHops {
		if rt.UsedAt.IsZero() {
			return raw, rt, nil
		}
		next, err := unseal(raw, rt.SuccessorSealed)
		if err != nil {
			return "", RefreshToken{}, err
		}
		if rt, err = tx.RefreshTokenForUpdate(ctx, hashRefreshToken(next)); err != nil {
			return "", RefreshToken{}, err
		}
		raw = next
	}
	return "", RefreshToken{}, errors.New("auth: refresh chain longer than the grace allows")
}
