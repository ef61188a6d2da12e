package revocation

import (
	"context"
	"fmt"

	"github.com/parleychat/parley/shared/events"
)

// Handle applies an auth.* event to the store and ignores every other type,
// so it can sit behind a queue bound to auth.#. A payload that does not
// decode is malformed (dead-lettered, never retried).
func (s *Store) Handle(_ context.Context, env events.Envelope) error {
	switch env.Type {
	case events.TypeSessionRevoked:
		var d events.SessionRevokedV1
		if err := env.DecodeData(&d); err != nil {
			return err
		}
		if len(d.SessionIDs) == 0 || d.RevokedUntil.IsZero() {
			return fmt.Errorf("%w: %s without sessionIds or revokedUntil", events.ErrMalformed, env.RoutingKey())
		}
		s.RevokeSessions(d.UserID, d.SessionIDs, d.RevokedUntil)
	case events.TypePasswordChanged:
		var d events.PasswordChangedV1
		if err := env.DecodeData(&d); err != nil {
			return err
		}
		if d.UserID == "" || d.ChangedAt.IsZero() || d.RevokedUntil.IsZero() {
			return fmt.Errorf("%w: %s without userId, changedAt or revokedUntil", events.ErrMalformed, env.RoutingKey())
		}
		s.RevokeUserBefore(d.UserID, d.ChangedAt, d.RevokedUntil)
	}
	return nil
}
