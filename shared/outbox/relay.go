package outbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/logging"
	"github.com/parleychat/parley/shared/rabbit"
	"github.com/parleychat/parley/shared/trace"
)

// Publisher is what the relay needs from *rabbit.Publisher: pipelined,
// confirmed publishing with one result per message.
type Publisher interface {
	PublishBatch(ctx context.Context, msgs []rabbit.Message) []error
}

// DefaultLockKey is the PostgreSQL advisory lock that elects the one active
// relay per database. Advisory locks are per database, so every service may
// use the same key.
const DefaultLockKey int64 = 0x7061726c65790001 // "parley" + 1

// RelayOptions tunes a Relay; zero values take the defaults.
type RelayOptions struct {
	// BatchSize is how many rows are read and published (pipelined) at
	// once. Default 200.
	BatchSize int
	// PollInterval is the fallback when a notification is missed, and how
	// often a standby relay tries to become the leader. Default 1s.
	PollInterval time.Duration
	// Retention is how long published rows are kept (for debugging and
	// replays) before they are deleted. Default 24h.
	Retention time.Duration
	// MaxBackoff caps the wait between failed publish attempts (while the
	// broker is away, publishing itself waits for the reconnect). Default 2s.
	MaxBackoff time.Duration
	// LockKey overrides DefaultLockKey (tests running relays side by side on
	// one database use it).
	LockKey int64
	// StatsInterval is how often a summary line is logged. Default 1m.
	StatsInterval time.Duration
	// ReturnedRetry is how long a row the broker returned as unroutable is
	// held back before it is published again. Default 30s.
	ReturnedRetry time.Duration
}

// RelayStats are a relay's counters since it started.
type RelayStats struct {
	Published uint64 `json:"published"`
	// Unroutable counts publishes the broker returned as unroutable; each
	// row stays unpublished and is retried.
	Unroutable uint64 `json:"unroutable"`
	// Held is how many returned rows are waiting for their retry now.
	Held     int    `json:"held"`
	Failures uint64 `json:"failures"`
	Batches  uint64 `json:"batches"`
	Pruned   uint64 `json:"pruned"`
	Leader   bool   `json:"leader"`
}

// Relay publishes a service's outbox rows to RabbitMQ in seq order.
//
// Exactly one relay per database is active at a time: the one holding the
// advisory lock on its own connection. It wakes on NOTIFY from Enqueue (so
// a committed event is published within milliseconds) and polls as a
// fallback, publishes a batch with confirms, and moves the rows the broker
// confirmed to outbox_published, stamped with published_at. Rows are never
// deleted before they are published; published rows are pruned after
// Retention.
//
// Ordering: rows are published in seq order on one channel, so the events
// of one aggregate arrive in order, and after a broker outage publishing
// resumes from the oldest unconfirmed row. The exceptions are a broker nack
// in the middle of a batch whose later rows were confirmed, after which the
// nacked row is published again after them, and a returned row (below). Consumers are idempotent by
// event id, and duplicates (a confirm lost with the connection) are dropped
// by them.
//
// Unroutable events: the exchanges relays publish to (rabbit.OutboxExchanges)
// have the rabbit.Unrouted alternate exchange, so an event no queue is
// bound for is confirmed into the parley.unrouted queue, where it waits for
// an operator, and its row is moved out as published like any other. A row the
// broker still returns as unroutable means the topology is wrong (an
// exchange without its alternate exchange): the row stays unpublished, is
// logged at error level, and is held back for ReturnedRetry before it is
// published again, while the rows after it keep flowing. So nothing
// committed is dropped; the cost is that a held event reaches its
// consumers after later events of its aggregate.
type Relay struct {
	pool *pgxpool.Pool
	pub  Publisher
	log  zerolog.Logger
	// okLog records each published event at info, sampled, with its trace.
	okLog zerolog.Logger
	opts  RelayOptions

	published, unroutable, failures, batches, pruned atomic.Uint64
	leader                                           atomic.Bool
	// held maps the seq of each returned row to when it may be retried;
	// only the leading goroutine touches it.
	held      map[int64]time.Time
	heldCount atomic.Int64
}

// maxHeld bounds the rows held back at once. Past it, returned rows are
// retried with every batch instead, and the relay backs off between batches
// as it does after any failed publish.
const maxHeld = 10000

// NewRelay returns a relay for the outbox table in pool's database.
func NewRelay(pool *pgxpool.Pool, pub Publisher, logger zerolog.Logger, opts RelayOptions) *Relay {
	if opts.BatchSize <= 0 {
		opts.BatchSize = 200
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.Retention <= 0 {
		opts.Retention = 24 * time.Hour
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 2 * time.Second
	}
	if opts.LockKey == 0 {
		opts.LockKey = DefaultLockKey
	}
	if opts.StatsInterval <= 0 {
		opts.StatsInterval = time.Minute
	}
	if opts.ReturnedRetry <= 0 {
		opts.ReturnedRetry = 30 * time.Second
	}
	return &Relay{
		pool: pool, pub: pub, opts: opts, held: map[int64]time.Time{},
		log:   logger.With().Str("event.dataset", "outbox.relay").Logger(),
		okLog: logging.Sampled(logger.With().Str("event.dataset", "outbox.publish").Logger()),
	}
}

// Stats returns the relay's counters.
func (r *Relay) Stats() RelayStats {
	return RelayStats{
		Published: r.published.Load(), Unroutable: r.unroutable.Load(), Held: int(r.heldCount.Load()),
		Failures: r.failures.Load(), Batches: r.batches.Load(), Pruned: r.pruned.Load(), Leader: r.leader.Load(),
	}
}

// Run relays until ctx ends. Database and broker failures are logged and
// retried; they never end Run, so it has no error to return.
func (r *Relay) Run(ctx context.Context) {
	stats := time.NewTicker(r.opts.StatsInterval)
	defer stats.Stop()
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-stats.C:
				s := r.Stats()
				r.log.Info().Uint64("published", s.Published).Uint64("unroutable", s.Unroutable).Int("held", s.Held).
					Uint64("failures", s.Failures).Uint64("pruned", s.Pruned).Bool("leader", s.Leader).
					Msg("outbox relay stats")
			}
		}
	}()
	for attempt := 0; ; attempt++ {
		err := r.lead(ctx)
		r.leader.Store(false)
		if ctx.Err() != nil {
			return
		}
		delay := min(r.opts.PollInterval<<min(attempt, 4), r.opts.MaxBackoff)
		logging.ErrorFields(r.log.Warn(), err).Dur("retry_in", delay).Msg("outbox relay: connection lost; retrying")
		if !sleep(ctx, delay) {
			return
		}
	}
}

// readUnpublished reads the oldest unpublished rows ($1 at most) but for
// those held back ($2).
const readUnpublished = `SELECT seq, id::text, exchange, routing_key, payload::text, coalesce(payload->>'traceparent', '') FROM outbox
	WHERE published_at IS NULL AND NOT seq = ANY($2) ORDER BY seq LIMIT $1`

// markPublished moves the rows whose events the broker confirmed to
// outbox_published (PublishedSchema), stamped with the time.
const markPublished = `WITH done AS (
		DELETE FROM outbox WHERE seq = ANY($1)
		RETURNING seq, id, exchange, routing_key, aggregate_id, payload, created_at)
	INSERT INTO outbox_published (seq, id, exchange, routing_key, aggregate_id, payload, created_at, published_at)
	SELECT seq, id, exchange, routing_key, aggregate_id, payload, created_at, now() FROM done`

// pruneOutbox deletes published rows older than $1: those moved out, and
// those a relay of an earlier version marked in place in outbox.
const pruneOutbox = `WITH moved AS (DELETE FROM outbox_published WHERE published_at < $1 RETURNING 1),
		marked AS (DELETE FROM outbox WHERE published_at < $1 RETURNING 1)
	SELECT (SELECT count(*) FROM moved) + (SELECT count(*) FROM marked)`

// relayConnConfig is the pool's connection configuration with each
// statement planned once (plan_cache_mode=force_generic_plan), without
// sequential scans (enable_seqscan=off) and without JIT (jit=off), unless
// the URL sets them.
//
// The relay runs the same few statements hundreds of times a second, and
// planning each run was as costly as running it (0.055 ms a statement, a
// third of the relay's time in PostgreSQL). A generic plan is made once
// with the statistics of its moment, and on a new database those say the
// outbox is empty, where a sequential scan is the cheapest plan: marking
// rows then scanned the whole table (1.7–2.5 ms a batch under load) until
// the next ANALYZE. Without sequential scans every statement reaches its
// rows through an index whatever the statistics say: the primary key to
// move rows out, the partial index of unpublished rows (in seq order) to
// read them, the published_at index of outbox_published to prune it. Pruning
// outbox itself (rows marked in place by an earlier version) scans it,
// which is cheap now that it holds only the backlog. JIT is off (jit=off):
// a disabled scan is costed so high that PostgreSQL compiled the prune
// each minute, 93 ms of compiling for well under a millisecond of work.
func relayConnConfig(base *pgx.ConnConfig) *pgx.ConnConfig {
	cfg := base.Copy()
	for k, v := range map[string]string{planCacheMode: "force_generic_plan", "enable_seqscan": "off", "jit": "off"} {
		if _, set := cfg.RuntimeParams[k]; !set {
			cfg.RuntimeParams[k] = v
		}
	}
	return cfg
}

const planCacheMode = "plan_cache_mode"

// lead holds a dedicated connection: it waits for the advisory lock, then
// listens and publishes until the connection fails or ctx ends. Queries run
// on the same connection, so a relay that lost its lock (connection gone)
// can no longer touch the table.
func (r *Relay) lead(ctx context.Context) error {
	conn, err := pgx.ConnectConfig(ctx, relayConnConfig(r.pool.Config().ConnConfig))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	for standby := false; ; standby = true {
		var got bool
		if err := conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, r.opts.LockKey).Scan(&got); err != nil {
			return fmt.Errorf("advisory lock: %w", err)
		}
		if got {
			break
		}
		if !standby {
			r.log.Info().Msg("outbox relay: another relay is active; standing by")
		}
		if !sleep(ctx, r.opts.PollInterval) {
			return nil
		}
	}
	if _, err := conn.Exec(ctx, `LISTEN `+pgx.Identifier{NotifyChannel}.Sanitize()); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	r.leader.Store(true)
	r.log.Info().Msg("outbox relay: active")

	lastPrune := time.Time{}
	failures := 0
	for {
		read, marked, err := r.relayBatch(ctx, conn)
		var pubErr *publishError
		switch {
		case ctx.Err() != nil:
			return nil
		case errors.As(err, &pubErr):
			failures++
			r.failures.Add(1)
			delay := min(100*time.Millisecond<<min(failures, 8), r.opts.MaxBackoff)
			logging.ErrorFields(r.log.Warn(), err).Dur("retry_in", delay).Int("confirmed", marked).
				Msg("outbox relay: publish failed; will retry")
			if !sleep(ctx, delay) {
				return nil
			}
			continue
		case err != nil:
			return err
		}
		failures = 0
		if time.Since(lastPrune) > time.Minute {
			if err := r.prune(ctx, conn); err != nil {
				return err
			}
			lastPrune = time.Now()
		}
		if read == r.opts.BatchSize {
			continue // more rows are probably waiting
		}
		if err := r.wait(ctx, conn); err != nil {
			return err
		}
	}
}

// wait blocks until a notification arrives, the poll interval passes or ctx
// ends.
func (r *Relay) wait(ctx context.Context, conn *pgx.Conn) error {
	wctx, cancel := context.WithTimeout(ctx, r.opts.PollInterval)
	defer cancel()
	_, err := conn.WaitForNotification(wctx)
	if err != nil && wctx.Err() == nil {
		return fmt.Errorf("wait for notification: %w", err)
	}
	return nil
}

type row struct {
	seq         int64
	id          string
	exchange    string
	routingKey  string
	payload     []byte
	traceparent string
}

// publishError marks a broker-side failure: the relay keeps its lock and
// retries with backoff instead of reconnecting to the database.
type publishError struct{ err error }

func (e *publishError) Error() string { return e.err.Error() }
func (e *publishError) Unwrap() error { return e.err }

// relayBatch publishes the oldest unpublished rows that are not held back
// and marks the confirmed ones; it returns how many rows it read and how
// many it marked.
func (r *Relay) relayBatch(ctx context.Context, conn *pgx.Conn) (read, marked int, err error) {
	rows, err := conn.Query(ctx, readUnpublished, r.opts.BatchSize, r.stillHeld(time.Now()))
	if err != nil {
		return 0, 0, fmt.Errorf("read outbox: %w", err)
	}
	batch, err := pgx.CollectRows(rows, func(rw pgx.CollectableRow) (row, error) {
		var x row
		var payload string
		err := rw.Scan(&x.seq, &x.id, &x.exchange, &x.routingKey, &payload, &x.traceparent)
		x.payload = []byte(payload)
		return x, err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("read outbox: %w", err)
	}
	if len(batch) == 0 {
		return 0, 0, nil
	}
	r.batches.Add(1)
	msgs := make([]rabbit.Message, len(batch))
	for i, x := range batch {
		// The traceparent is read by the database (payload->>'traceparent')
		// instead of decoding every payload here.
		msgs[i] = rabbit.Message{
			Exchange: x.exchange, RoutingKey: x.routingKey, Body: x.payload, ID: x.id, Traceparent: x.traceparent,
		}
	}
	errs := r.pub.PublishBatch(ctx, msgs)
	done := make([]int64, 0, len(batch))
	var firstErr error
	for i, err := range errs {
		switch {
		case err == nil:
			done = append(done, batch[i].seq)
		case errors.Is(err, rabbit.ErrUnroutable):
			if !r.returned(batch[i], err) && firstErr == nil {
				firstErr = err
			}
		case firstErr == nil:
			firstErr = err
		}
	}
	for i, err := range errs {
		if err == nil {
			tc, _ := trace.Parse(msgs[i].Traceparent)
			r.okLog.Info().Str("trace.id", tc.TraceID).Str("event.id", batch[i].id).Str("event.action", batch[i].routingKey).
				Str("rabbitmq.exchange", batch[i].exchange).Msg("event published")
		}
	}
	if len(done) > 0 {
		if _, err := conn.Exec(ctx, markPublished, done); err != nil {
			// The events went out but stay unmarked: they will be published
			// again after reconnecting, and consumers drop the duplicates.
			return len(batch), 0, fmt.Errorf("mark published: %w", err)
		}
		r.published.Add(uint64(len(done)))
	}
	if firstErr != nil {
		return len(batch), len(done), &publishError{firstErr}
	}
	return len(batch), len(done), nil
}

func traceID(payload []byte) string {
	var e struct {
		Traceparent string `json:"traceparent"`
	}
	_ = json.Unmarshal(payload, &e)
	tc, _ := trace.Parse(e.Traceparent)
	return tc.TraceID
}

// prune deletes rows published more than Retention ago.
func (r *Relay) prune(ctx context.Context, conn *pgx.Conn) error {
	var n int64
	if err := conn.QueryRow(ctx, pruneOutbox, time.Now().Add(-r.opts.Retention)).Scan(&n); err != nil {
		return fmt.Errorf("prune outbox: %w", err)
	}
	r.pruned.Add(uint64(n))
	return nil
}

// sleep waits d or until ctx ends; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
