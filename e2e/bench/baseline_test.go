package bench

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/parleychat/parley/e2e/harness"
)

// The baseline is the database work of a plain Node socket.io server: per
// message one statement, in autocommit (so one transaction, committed with
// synchronous_commit on, PostgreSQL's default), then ack {id, seq} and emit
// to the conversation's room. It has no outbox, no broker, no fan-out across
// gateways and no full-text index. The statement keeps what such a server
// must guarantee:
//   - membership: only a member may send (the UPDATE matches no row otherwise);
//   - per-conversation seq with no gap: the UPDATE takes the conversation's
//     row lock, so concurrent sends to one conversation queue on it;
//   - idempotent clientMsgId per sender: a retry finds the original (dup)
//     and returns its id and seq without bumping seq; ON CONFLICT covers two
//     copies racing each other (the loser gets no row, as a unique violation
//     would tell the plain server).
//
// The id is a UUIDv7 made by the caller, as Parley makes its ids.
const (
	baselineSchema = `
CREATE TABLE conv (id uuid PRIMARY KEY, seq bigint NOT NULL DEFAULT 0);
CREATE TABLE member (conv_id uuid NOT NULL REFERENCES conv, user_id uuid NOT NULL, PRIMARY KEY (conv_id, user_id));
CREATE TABLE msg (
    id            uuid PRIMARY KEY,
    conv_id       uuid NOT NULL REFERENCES conv,
    seq           bigint NOT NULL,
    sender_id     uuid NOT NULL,
    client_msg_id text NOT NULL,
    body          text NOT NULL,
    created_at    timestamptz NOT NULL,
    UNIQUE (conv_id, seq),
    UNIQUE (sender_id, client_msg_id)
);`

	baselineInsert = `
WITH dup AS (
    SELECT id, seq FROM msg WHERE sender_id = $3 AND client_msg_id = $4
), c AS (
    UPDATE conv SET seq = seq + 1
    WHERE id = $2 AND NOT EXISTS (SELECT 1 FROM dup)
      AND EXISTS (SELECT 1 FROM member WHERE conv_id = $2 AND user_id = $3)
    RETURNING seq
), ins AS (
    INSERT INTO msg (id, conv_id, seq, sender_id, client_msg_id, body, created_at)
    SELECT $1, $2, c.seq, $3, $4, $5, now() FROM c
    ON CONFLICT (sender_id, client_msg_id) DO NOTHING
    RETURNING id, seq
)
SELECT id, seq FROM ins UNION ALL SELECT id, seq FROM dup`
)

// baselineDB is a throwaway database holding the baseline's tables.
type baselineDB struct {
	name  string
	url   string
	convs []baselineConv
}

// baselineConv is one conversation and its senders.
type baselineConv struct {
	id      uuid.UUID
	senders []uuid.UUID
}

// newBaselineDB creates a database owned by the admin role (dropped when
// the benchmark ends) with conversations conversations of senders senders
// and one receiver each.
func newBaselineDB(t testing.TB, conversations, senders int) *baselineDB {
	t.Helper()
	inf := harness.LoadInfra(t)
	ctx := context.Background()
	name := "bench_plain_" + uuid.NewString()[:8]
	admin, err := pgx.Connect(ctx, inf.PGAdminURL)
	if err != nil {
		t.Fatalf("admin connect: %v", err)
	}
	defer admin.Close(ctx)
	if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create %s: %v", name, err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), inf.PGAdminURL)
		if err != nil {
			t.Errorf("admin connect: %v", err)
			return
		}
		defer c.Close(context.Background())
		// WITH (FORCE) would also have to terminate an autovacuum worker
		// busy with the freshly written tables, which only a superuser may
		// (it failed the benchmark once). So this role ends its own
		// connections, and a plain DROP cancels autovacuum by itself.
		if _, err := c.Exec(context.Background(), `SELECT pg_terminate_backend(pid) FROM pg_stat_activity
			WHERE datname = $1 AND usename = current_user AND pid <> pg_backend_pid()`, name); err != nil {
			t.Errorf("end connections to %s: %v", name, err)
		}
		if _, err := c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name); err != nil {
			t.Errorf("drop %s: %v", name, err)
		}
	})
	u, err := url.Parse(inf.PGAdminURL)
	if err != nil {
		t.Fatalf("PG_ADMIN_URL: %v", err)
	}
	u.Path = "/" + name
	db := &baselineDB{name: name, url: u.String()}
	conn, err := pgx.Connect(ctx, db.url)
	if err != nil {
		t.Fatalf("connect %s: %v", name, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, baselineSchema); err != nil {
		t.Fatalf("baseline schema: %v", err)
	}
	batch := &pgx.Batch{}
	for range conversations {
		c := baselineConv{id: uuid.Must(uuid.NewV7())}
		batch.Queue(`INSERT INTO conv (id) VALUES ($1)`, c.id)
		for range senders + 1 {
			user := uuid.Must(uuid.NewV7())
			batch.Queue(`INSERT INTO member (conv_id, user_id) VALUES ($1, $2)`, c.id, user)
			if len(c.senders) < senders {
				c.senders = append(c.senders, user)
			}
		}
		db.convs = append(db.convs, c)
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		t.Fatalf("baseline conversations: %v", err)
	}
	return db
}

// send runs the baseline statement once.
func send(ctx context.Context, conn *pgx.Conn, conv, sender uuid.UUID, clientMsgID, body string) (uuid.UUID, int64, error) {
	var id uuid.UUID
	var seq int64
	err := conn.QueryRow(ctx, baselineInsert, uuid.Must(uuid.NewV7()), conv, sender, clientMsgID, body).Scan(&id, &seq)
	return id, seq, err
}

// baselineResult is the statement driven as fast as it goes.
type baselineResult struct {
	name    string
	conns   int
	convs   int
	sent    int
	errs    int
	dur     time.Duration
	lat     []float64 // ms per statement, sorted
	cpu     cpuUse
	gapFree bool
}

func (r baselineResult) rate() float64 { return float64(r.sent) / r.dur.Seconds() }

// runBaseline drives the statement from conns connections, each in a
// closed loop over the conversations (round robin over their senders),
// for d, and checks afterwards that every conversation's seq is gap-free.
func runBaseline(b *testing.B, name string, db *baselineDB, conns int, d time.Duration) baselineResult {
	b.Helper()
	ctx := context.Background()
	pool := make([]*pgx.Conn, conns)
	for i := range pool {
		c, err := pgx.Connect(ctx, db.url)
		if err != nil {
			b.Fatalf("baseline connect: %v", err)
		}
		pool[i] = c
		defer c.Close(ctx)
	}
	inf := harness.LoadInfra(b)
	pg := infraPid(inf.Script, "pg")
	comps := []component{
		{"postgres", func() []int { return postgresPids(pg, []string{db.name}) }},
		{"driver (Go)", pidList(os.Getpid())},
	}
	var next atomic.Int64
	var errs atomic.Int64
	lats := make([][]float64, conns)
	body := "benchmark message: the quick brown fox jumps over the lazy dog"
	prefix := uuid.NewString()[:8]
	s0 := snapshot(comps)
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for w, conn := range pool {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := next.Add(1) - 1
				c := db.convs[int(i)%len(db.convs)]
				sender := c.senders[int(i/int64(len(db.convs)))%len(c.senders)]
				t0 := time.Now()
				if _, _, err := send(ctx, conn, c.id, sender, fmt.Sprintf("%s-%d", prefix, i), body); err != nil {
					errs.Add(1)
					continue
				}
				lats[w] = append(lats[w], float64(time.Since(t0))/float64(time.Millisecond))
			}
		})
	}
	wg.Wait()
	s1 := snapshot(comps)
	r := baselineResult{name: name, conns: conns, convs: len(db.convs), dur: s1.at.Sub(s0.at), cpu: since(s0, s1, comps), errs: int(errs.Load())}
	for _, l := range lats {
		r.lat = append(r.lat, l...)
	}
	r.sent = len(r.lat)
	slices.Sort(r.lat)
	var bad int
	if err := pool[0].QueryRow(ctx, `SELECT count(*) FROM conv c WHERE c.seq <> (SELECT count(*) FROM msg m WHERE m.conv_id = c.id)
		OR c.seq <> coalesce((SELECT max(seq) FROM msg m WHERE m.conv_id = c.id), 0)`).Scan(&bad); err != nil {
		b.Fatalf("baseline check: %v", err)
	}
	r.gapFree = bad == 0
	return r
}

// isRefused reports whether a baseline send matched no row: not a
// member, or a copy that lost a race with its twin.
func isRefused(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
