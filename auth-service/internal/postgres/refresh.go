package postgres

import (
	"context"
	"fmt"
	"time"

	"github.com/parleychat/parley/auth-service/internal/auth"
)

// InsertRefreshToken stores a new token's hash.
func (t *txStore) InsertRefreshToken(ctx context.Context, rt auth.RefreshToken) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO refresh_tokens (hash, session_id, issued_at, expires_at)
		VALUES ($1, $2, $3, $4)`, rt.Hash, rt.SessionID, rt.IssuedAt, rt.ExpiresAt)
	if err != nil {
		return fmt.Errorf("postgres: insert refresh token: %w", err)
	}
	return nil
}

// RefreshTokenForUpdate locks the token's row; auth.ErrNotFound if unknown.
func (t *txStore) RefreshTokenForUpdate(ctx context.Context, hash []byte) (auth.RefreshToken, error) {
	var (
		rt   auth.RefreshToken
		used *time.Time
	)
	err := t.tx.QueryRow(ctx, `SELECT hash, session_id, issued_at, expires_at, used_at, replaced_by, successor_sealed
		FROM refresh_tokens WHERE hash = $1 FOR UPDATE`, hash).
		Scan(&rt.Hash, &rt.SessionID, &rt.IssuedAt, &rt.ExpiresAt, &used, &rt.ReplacedBy, &rt.SuccessorSealed)
	if err != nil {
		return auth.RefreshToken{}, notFound(err, "lock refresh token")
	}
	rt.IssuedAt, rt.ExpiresAt, rt.UsedAt = rt.IssuedAt.UTC(), rt.ExpiresAt.UTC(), fromNull(used)
	return rt, nil
}

// MarkRefreshTokenUsed records the rotation of hash into replacedBy.
func (t *txStore) MarkRefreshTokenUsed(ctx context.Context, hash []byte, usedAt time.Time, replacedBy, sealed []byte) error {
	tag, err := t.tx.Exec(ctx, `UPDATE refresh_tokens SET used_at = $2, replaced_by = $3, successor_sealed = $4
		WHERE hash = $1 AND used_at IS NULL`, hash, usedAt, replacedBy, sealed)
	if err != nil {
		return fmt.Errorf("postgres: mark refresh token used: %w", err)
	}
	if tag.RowsAffected() != 1 {
		return fmt.Errorf("postgres: mark refresh token used: token missing or already used")
	}
	return nil
}
