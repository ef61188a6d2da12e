package auth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/parleychat/parley/auth-service/internal/password"
)

// LoginInput is a sign-in attempt; Login is a username or an email.
type LoginInput struct {
	Login    string
	Password string
}

// Login signs a user in on the calling device.
//
// Unknown logins and wrong passwords get the same ErrInvalidCredentials after
// the same work: an unknown login is verified against a dummy hash. Failures
// are counted per account (keyed by the login as typed when no account
// matches, so unknown and known logins throttle alike) and per client IP.
// A successful login clears the account's count.
func (s *Service) Login(ctx context.Context, in LoginInput, c Client) (Grant, error) {
	login := strings.ToLower(strings.TrimSpace(in.Login))
	var fields []FieldError
	if login == "" {
		fields = append(fields, FieldError{"login", "is required"})
	}
	switch {
	case in.Password == "":
		fields = append(fields, FieldError{"password", "is required"})
	case len(in.Password) > password.MaxBytes:
		// No account can have such a password; refusing it costs no hash.
		fields = append(fields, FieldError{"password", "must be at most 1024 bytes"})
	}
	if len(fields) > 0 {
		return Grant{}, &InvalidError{Fields: fields}
	}

	u, err := s.store.UserByLogin(ctx, login)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Grant{}, err
	}
	accountKey := "account:" + login
	if found {
		accountKey = "account:" + u.ID
	}
	now := s.now()
	rules, keys := s.loginRules(accountKey, c)
	if err := s.throttled(ctx, now, rules...); err != nil {
		return Grant{}, err
	}

	ok, rehash := false, false
	if found {
		ok, rehash, err = s.hasher.Verify(ctx, in.Password, u.PasswordHash)
	} else {
		err = s.hasher.VerifyDummy(ctx, in.Password)
	}
	if err != nil {
		return Grant{}, err
	}
	if !ok {
		if err := s.limiter.RecordFailure(ctx, now, keys...); err != nil {
			return Grant{}, err
		}
		return Grant{}, ErrInvalidCredentials
	}

	newHash := ""
	if rehash {
		if newHash, err = s.hasher.Hash(ctx, in.Password); err != nil {
			return Grant{}, err
		}
	}
	var g Grant
	err = s.store.InTx(ctx, func(tx Tx) error {
		if newHash != "" {
			if err := tx.SetPasswordHash(ctx, u.ID, newHash, time.Time{}); err != nil {
				return err
			}
			u.PasswordHash = newHash
		}
		g, err = s.openSession(ctx, tx, u, c, now)
		return err
	})
	if err != nil {
		return Grant{}, err
	}
	if err := s.limiter.Clear(ctx, accountKey); err != nil {
		return Grant{}, err
	}
	return g, nil
}

// loginRules returns the throttles for an attempt on accountKey from c, and
// the keys a failure is counted under.
func (s *Service) loginRules(accountKey string, c Client) ([]Rule, []string) {
	rules := []Rule{{Key: accountKey, Limit: s.cfg.AccountFailures, Window: s.cfg.FailureWindow}}
	// Without an address from the gateway there is nothing to key on:
	// lumping all such requests together would let one attacker lock
	// everybody out.
	if c.IP != "" {
		rules = append(rules, Rule{Key: "ip:" + c.IP, Limit: s.cfg.IPFailures, Window: s.cfg.FailureWindow})
	}
	keys := make([]string, len(rules))
	for i, r := range rules {
		keys[i] = r.Key
	}
	return rules, keys
}
