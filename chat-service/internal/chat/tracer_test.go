package chat_test

import (
	"context"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/chat-service/internal/postgres"
)

// statements counts what a service sends to PostgreSQL: every statement,
// and round trips (a statement on its own, or one pipelined batch).
type statements struct{ stmts, trips atomic.Int64 }

func (s *statements) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	s.stmts.Add(1)
	s.trips.Add(1)
	return ctx
}
func (s *statements) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}
func (s *statements) TraceBatchStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceBatchStartData) context.Context {
	s.stmts.Add(int64(d.Batch.Len()))
	s.trips.Add(1)
	return ctx
}
func (s *statements) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}
func (s *statements) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData)     {}

// counted returns a service on e's database whose statements are counted.
func (e *env) counted(t testing.TB, cfg chat.Config) (*chat.Service, *statements) {
	t.Helper()
	n := &statements{}
	pc := e.pool.Config().Copy()
	pc.ConnConfig.Tracer = n
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return chat.NewService(postgres.NewStore(pool), nil, cfg), n
}

// TestOneSendIsOneBatch pins the statements of a lone send: a transaction
// of two pipelined round trips (BEGIN, lock and read; write and COMMIT),
// 11 statements, of which one sets how the others are planned and the
// reply lookup is left out (the send replies to nothing). More statements
// or round trips per send is a regression of the message path's main cost.
func TestOneSendIsOneBatch(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	alice, bob := e.user(t, "sa"), e.user(t, "sb")
	c := e.group(t, alice, bob)
	svc, n := e.counted(t, unlimited())
	if _, _, err := svc.Send(context.Background(), alice, chat.NewMessage{ConversationID: c.ID, ClientMsgID: "one", Body: "hi"}); err != nil {
		t.Fatal(err)
	}
	if got, want := n.trips.Load(), int64(2); got != want {
		t.Errorf("round trips for one send = %d, want %d", got, want)
	}
	if got, want := n.stmts.Load(), int64(11); got != want {
		t.Errorf("statements for one send = %d, want %d", got, want)
	}
}
