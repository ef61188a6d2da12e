package auth

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/parleychat/parley/shared/events"
)

// SignupInput is what a new user submits.
type SignupInput struct {
	Username string
	Email    string
	Password string
}

// Signup creates an account and signs it in on the calling device.
//
// A taken username or email is answered with 409 and a field error: without
// email confirmation there is no way to hide that an address is registered
// while still signing the user in, so instead refused signups are throttled
// per client IP (SignupConflicts per FailureWindow), which keeps the 409
// from being used to enumerate accounts at scale, and accounts created per
// client IP are capped (SignupsPerIP per SignupWindow) so one client cannot
// create accounts without bound.
func (s *Service) Signup(ctx context.Context, in SignupInput, c Client) (Grant, error) {
	username, email := NormalizeUsername(in.Username), NormalizeEmail(in.Email)
	var fields []FieldError
	if msg := usernameProblem(username); msg != "" {
		fields = append(fields, FieldError{"username", msg})
	}
	if msg := emailProblem(email); msg != "" {
		fields = append(fields, FieldError{"email", msg})
	}
	if msg := newPasswordProblem(in.Password, username, email); msg != "" {
		fields = append(fields, FieldError{"password", msg})
	}
	if len(fields) > 0 {
		return Grant{}, &InvalidError{Fields: fields}
	}

	now := s.now()
	conflicts, created := s.signupRules(c)
	if err := s.throttled(ctx, now, conflicts...); err != nil {
		return Grant{}, err
	}
	if err := s.throttled(ctx, now, created...); err != nil {
		var th *ThrottledError
		if errors.As(err, &th) {
			th.Signups = true
		}
		return Grant{}, err
	}

	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return Grant{}, err
	}
	id, err := uuid.NewV7()
	if err != nil {
		return Grant{}, err
	}
	u := User{ID: id.String(), Username: username, Email: email, PasswordHash: hash, CreatedAt: now}

	var g Grant
	err = s.store.InTx(ctx, func(tx Tx) error {
		userTaken, emailTaken, err := tx.UsernameOrEmailTaken(ctx, username, email)
		if err != nil {
			return err
		}
		if userTaken || emailTaken {
			return conflict(userTaken, emailTaken)
		}
		if err := tx.CreateUser(ctx, u); err != nil {
			// A concurrent signup won the race between the check and the
			// insert.
			return conflict(errors.Is(err, ErrUsernameTaken), errors.Is(err, ErrEmailTaken), err)
		}
		if g, err = s.openSession(ctx, tx, u, c, now); err != nil {
			return err
		}
		return enqueue(ctx, tx, u.ID, events.TypeUserRegistered, events.UserRegisteredV1{
			UserID: u.ID, Username: u.Username, Email: u.Email, CreatedAt: u.CreatedAt,
		})
	})
	var ce *ConflictError
	if errors.As(err, &ce) && len(conflicts) > 0 {
		if rerr := s.limiter.Record(ctx, now, conflicts[0].Key); rerr != nil {
			return Grant{}, rerr
		}
	}
	if err != nil {
		return Grant{}, err
	}
	if len(created) > 0 {
		if err := s.limiter.Record(ctx, now, created[0].Key); err != nil {
			return Grant{}, err
		}
	}
	return g, nil
}

// signupRules returns the throttles on refused signups and on accounts
// created from c's address; none without an address, since lumping every
// such request together would let one client block everybody's signups.
func (s *Service) signupRules(c Client) (conflicts, created []Rule) {
	if c.IP == "" {
		return nil, nil
	}
	return []Rule{{Key: "signup-ip:" + c.IP, Limit: s.cfg.SignupConflicts, Window: s.cfg.FailureWindow}},
		[]Rule{{Key: "signups-ip:" + c.IP, Limit: s.cfg.SignupsPerIP, Window: s.cfg.SignupWindow}}
}

// conflict builds the 409 for the taken fields; other (when neither flag is
// set) is returned as is.
func conflict(userTaken, emailTaken bool, other ...error) error {
	var fields []FieldError
	if userTaken {
		fields = append(fields, FieldError{"username", "is already taken"})
	}
	if emailTaken {
		fields = append(fields, FieldError{"email", "is already registered"})
	}
	if len(fields) == 0 && len(other) > 0 {
		return other[0]
	}
	return &ConflictError{Fields: fields}
}

// throttled returns a *ThrottledError when any rule is exceeded.
func (s *Service) throttled(ctx context.Context, now time.Time, rules ...Rule) error {
	if len(rules) == 0 {
		return nil
	}
	wait, err := s.limiter.Blocked(ctx, now, rules...)
	if err != nil {
		return err
	}
	if wait > 0 {
		return &ThrottledError{RetryAfter: wait}
	}
	return nil
}
