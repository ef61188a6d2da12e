// Package postgres implements auth's Store and Limiter on PostgreSQL.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/auth-service/internal/auth"
	"github.com/parleychat/parley/shared/events"
	"github.com/parleychat/parley/shared/outbox"
)

// Store is auth.Store on a pgx pool.
type Store struct {
	pool *pgxpool.Pool
}

var _ auth.Store = (*Store)(nil)

// New returns a store using pool, whose schema must be migrated.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// querier is what both the pool and a transaction offer.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// InTx runs fn in a transaction (read committed; rows that must not change
// underneath are locked with FOR UPDATE by the Tx methods).
func (s *Store) InTx(ctx context.Context, fn func(auth.Tx) error) error {
	return pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return fn(&txStore{tx: tx})
	})
}

// txStore is auth.Tx on one pgx transaction.
type txStore struct {
	tx pgx.Tx
}

var _ auth.Tx = (*txStore)(nil)

// Enqueue writes ev to the outbox in this transaction.
func (t *txStore) Enqueue(ctx context.Context, exchange, aggregateID string, ev events.Envelope) error {
	return outbox.Enqueue(ctx, t.tx, exchange, aggregateID, ev)
}

// nullTime maps the domain's zero time to SQL NULL.
func nullTime(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// fromNull maps SQL NULL to the domain's zero time, in UTC.
func fromNull(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// notFound turns pgx.ErrNoRows into auth.ErrNotFound.
func notFound(err error, what string) error {
	if errors.Is(err, pgx.ErrNoRows) {
		return auth.ErrNotFound
	}
	return fmt.Errorf("postgres: %s: %w", what, err)
}
