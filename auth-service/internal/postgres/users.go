package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/parleychat/parley/auth-service/internal/auth"
)

const userColumns = `id, username, email, password_hash, password_changed_at, created_at`

func scanUser(row pgx.Row) (auth.User, error) {
	var (
		u       auth.User
		changed *time.Time
	)
	err := row.Scan(&u.ID, &u.Username, &u.Email, &u.PasswordHash, &changed, &u.CreatedAt)
	u.PasswordChangedAt, u.CreatedAt = fromNull(changed), u.CreatedAt.UTC()
	return u, err
}

// UserByLogin finds a user by username, or by email when login holds an @
// (usernames cannot contain one).
func (s *Store) UserByLogin(ctx context.Context, login string) (auth.User, error) {
	col := "username"
	if strings.Contains(login, "@") {
		col = "email"
	}
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE `+col+` = $1`, login))
	if err != nil {
		return auth.User{}, notFound(err, "user by login")
	}
	return u, nil
}

// UserByID returns auth.ErrNotFound for an unknown id.
func (s *Store) UserByID(ctx context.Context, id string) (auth.User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1`, id))
	if err != nil {
		return auth.User{}, notFound(err, "user by id")
	}
	return u, nil
}

// PasswordsChangedSince lists users whose password changed after since.
func (s *Store) PasswordsChangedSince(ctx context.Context, since time.Time) ([]auth.User, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+userColumns+` FROM users
		WHERE password_changed_at > $1 ORDER BY password_changed_at`, since)
	if err != nil {
		return nil, fmt.Errorf("postgres: password changes: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (auth.User, error) { return scanUser(r) })
}

// UsernameOrEmailTaken reports which of the two are already in use.
func (t *txStore) UsernameOrEmailTaken(ctx context.Context, username, email string) (bool, bool, error) {
	var userTaken, emailTaken bool
	err := t.tx.QueryRow(ctx, `SELECT
		EXISTS (SELECT 1 FROM users WHERE username = $1),
		EXISTS (SELECT 1 FROM users WHERE email = $2)`, username, email).Scan(&userTaken, &emailTaken)
	if err != nil {
		return false, false, fmt.Errorf("postgres: taken: %w", err)
	}
	return userTaken, emailTaken, nil
}

// CreateUser inserts u; a duplicate is auth.ErrUsernameTaken or
// auth.ErrEmailTaken.
func (t *txStore) CreateUser(ctx context.Context, u auth.User) error {
	_, err := t.tx.Exec(ctx, `INSERT INTO users (`+userColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		u.ID, u.Username, u.Email, u.PasswordHash, nullTime(u.PasswordChangedAt), u.CreatedAt)
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) && pgErr.Code == "23505" {
		switch pgErr.ConstraintName {
		case "users_username_key":
			return auth.ErrUsernameTaken
		case "users_email_key":
			return auth.ErrEmailTaken
		}
	}
	if err != nil {
		return fmt.Errorf("postgres: create user: %w", err)
	}
	return nil
}

// UserByIDForUpdate locks the user's row.
func (t *txStore) UserByIDForUpdate(ctx context.Context, id string) (auth.User, error) {
	u, err := scanUser(t.tx.QueryRow(ctx, `SELECT `+userColumns+` FROM users WHERE id = $1 FOR UPDATE`, id))
	if err != nil {
		return auth.User{}, notFound(err, "lock user")
	}
	return u, nil
}

// SetPasswordHash stores hash; a zero changedAt keeps password_changed_at.
func (t *txStore) SetPasswordHash(ctx context.Context, userID, hash string, changedAt time.Time) error {
	tag, err := t.tx.Exec(ctx, `UPDATE users SET password_hash = $2,
		password_changed_at = COALESCE($3, password_changed_at) WHERE id = $1`,
		userID, hash, nullTime(changedAt))
	if err != nil {
		return fmt.Errorf("postgres: set password: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return auth.ErrNotFound
	}
	return nil
}
