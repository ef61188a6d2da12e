// Package postgres implements chat's Store, the user replica and presence on
// PostgreSQL. Every method runs one or a few statements; transactions are
// opened only by Store.InTx and Store.InSendTx (a group commit's) so that
// the use cases decide what commits together.
package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// Store is chat's persistence on a pgx pool.
type Store struct {
	queries
	pool *pgxpool.Pool
}

var (
	_ chat.Store = (*Store)(nil)
	_ chat.Tx    = (*tx)(nil)
)

// NewStore returns a Store over pool (migrated by pgdb.Open).
func NewStore(pool *pgxpool.Pool) *Store {
	return &Store{queries: queries{db: pool}, pool: pool}
}

// queries holds the statements shared by reads on the pool and inside a
// transaction.
type queries struct{ db querier }

// tx is chat.Tx on one pgx transaction.
type tx struct {
	queries
	pgx pgx.Tx
}

// InTx runs fn in a read-committed transaction. Changes serialise on the
// conversation row that Bump locks, so nothing stronger is needed.
func (s *Store) InTx(ctx context.Context, fn func(chat.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(t pgx.Tx) error {
		return fn(&tx{queries: queries{db: t}, pgx: t})
	})
}

// notFound maps "no rows" to chat.ErrNotFound and wraps other errors.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return chat.ErrNotFound
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}

// wrap annotates a database error with the operation.
func wrap(err error, what string) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}
