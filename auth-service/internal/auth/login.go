package auth

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

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
// are counted per (account, client IP), per account and per client IP, the
// account keyed by the login as typed when no account matches, so unknown
// and known logins throttle alike. A success clears the count of its
// (account, client IP) pair only: an attacker's failures elsewhere still
// count.
func (s *Service) Login(ctx context.Context, in LoginInput, c Client) (Grant, error) {
	login := strings.ToLower(strings.TrimSpace(in.Login))
	var fields []FieldError
	if login == "" {
		fields = append(fields, FieldError{"login", "is required"})
	}
	switch {
	case in.Password == "":
		fields = append(fields, FieldError{"password", "is required"})
	case utf8.RuneCountInString(in.Password) > password.MaxChars:
		// No account can have such a password; refusing it costs no hash.
		fields = append(fields, FieldError{"password", "must be at most 1024 characters"})
	}
	if len(fields) > 0 {
		return Grant{}, &InvalidError{Fields: fields}
	}

	u, err := s.store.UserByLogin(ctx, login)
	found := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return Grant{}, err
	}
	account := login
	if found {
		account = u.ID
	}
	now := s.now()
	rules, keys := s.loginRules(account, c)
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
		if err := s.limiter.Record(ctx, now, keys...); err != nil {
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
	if err := s.limiter.Clear(ctx, rules[0].Key); err != nil {
		return Grant{}, err
	}
	return g, nil
}

// loginRules returns the throttles for an attempt on account from c, the
// (account, client) one first, and the keys a failure is counted under.
func (s *Service) loginRules(account string, c Client) ([]Rule, []string) {
	rules := []Rule{
		// Without an address from the gateway every such request shares the
		// empty one, which is the old per-account bound: the safe side.
		{Key: "account-ip:" + account + "|" + c.IP, Limit: s.cfg.AccountClientFailures, Window: s.cfg.FailureWindow},
		{Key: "account:" + account, Limit: s.cfg.AccountFailures, Window: s.cfg.FailureWindow},
	}
	// Lumping every address-less request under one IP key would let one
	// attacker lock everybody out.
	if c.IP != "" {
		rules = append(rules, Rule{Key: "ip:" + c.IP, Limit: s.cfg.IPFailures, Window: s.cfg.FailureWindow})
	}
	keys := make([]string, len(rules))
	for i, r := range rules {
		keys[i] = r.Key
	}
	return rules, keys
}
