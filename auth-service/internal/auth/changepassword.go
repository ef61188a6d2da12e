package auth

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/parleychat/parley/auth-service/internal/password"
	"github.com/parleychat/parley/shared/events"
)

// ChangePasswordInput is a password change request.
type ChangePasswordInput struct {
	CurrentPassword string
	NewPassword     string
}

// ChangePassword sets a new password after checking the current one, then
// revokes EVERY session of the user, the caller's included, and signs the
// calling device in again with a brand-new session. Whoever held a stolen
// refresh token or session token — for any session — is locked out, and the
// user stays signed in where they made the change.
//
// Two events are written: auth.password.changed (gateways refuse every
// session token of the user issued before ChangedAt, which is truncated to
// whole seconds so the new session's token, whose iat is in whole seconds
// too, is never caught by its own cutoff) and auth.session.revoked naming
// the revoked sessions, so gateways that track sessions by sid agree.
//
// A wrong current password counts as a failed login for the account, so a
// hijacked session cannot be used to guess the password faster than the
// login form allows.
func (s *Service) ChangePassword(ctx context.Context, caller Caller, in ChangePasswordInput, c Client) (Grant, error) {
	if err := userCaller(caller); err != nil {
		return Grant{}, err
	}
	u, err := s.store.UserByID(ctx, caller.UserID)
	if errors.Is(err, ErrNotFound) {
		return Grant{}, ErrUnauthenticated
	}
	if err != nil {
		return Grant{}, err
	}

	var fields []FieldError
	switch {
	case in.CurrentPassword == "":
		fields = append(fields, FieldError{"currentPassword", "is required"})
	case utf8.RuneCountInString(in.CurrentPassword) > password.MaxChars:
		fields = append(fields, FieldError{"currentPassword", "is incorrect"})
	}
	if msg := newPasswordProblem(in.NewPassword, u.Username, u.Email); msg != "" {
		fields = append(fields, FieldError{"newPassword", msg})
	} else if in.NewPassword == in.CurrentPassword {
		fields = append(fields, FieldError{"newPassword", "must differ from the current password"})
	}
	if len(fields) > 0 {
		return Grant{}, &InvalidError{Fields: fields}
	}

	now := s.now()
	rules, keys := s.loginRules(u.ID, c)
	if err := s.throttled(ctx, now, rules...); err != nil {
		return Grant{}, err
	}
	ok, _, err := s.hasher.Verify(ctx, in.CurrentPassword, u.PasswordHash)
	if err != nil {
		return Grant{}, err
	}
	if !ok {
		if err := s.limiter.Record(ctx, now, keys...); err != nil {
			return Grant{}, err
		}
		return Grant{}, ErrWrongPassword
	}
	hash, err := s.hasher.Hash(ctx, in.NewPassword)
	if err != nil {
		return Grant{}, err
	}

	changedAt := now.Truncate(time.Second)
	var g Grant
	err = s.store.InTx(ctx, func(tx Tx) error {
		if u, err = tx.UserByIDForUpdate(ctx, u.ID); err != nil {
			return err
		}
		if err := tx.SetPasswordHash(ctx, u.ID, hash, changedAt); err != nil {
			return err
		}
		u.PasswordHash, u.PasswordChangedAt = hash, changedAt
		if err := s.revoke(ctx, tx, u.ID, nil, ReasonPasswordChanged, now); err != nil {
			return err
		}
		if err := enqueue(ctx, tx, u.ID, events.TypePasswordChanged, events.PasswordChangedV1{
			UserID: u.ID, ChangedAt: changedAt, RevokedUntil: s.revokedUntil(changedAt),
		}); err != nil {
			return err
		}
		g, err = s.openSession(ctx, tx, u, c, now)
		return err
	})
	if err != nil {
		return Grant{}, err
	}
	return g, nil
}
