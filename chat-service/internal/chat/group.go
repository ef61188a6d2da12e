package chat

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// pendingSend is a validated send waiting for its group commit.
type pendingSend struct {
	ctx     context.Context
	userID  string
	convID  string
	in      NewMessage
	replyTo *string
	done    chan sendResult // buffered: the committer never blocks on it
	queued  time.Time       // when it joined the queue
}

type sendResult struct {
	msg     Message
	created bool
	err     error
	// duplicate: the key was already stored; the caller reads the original.
	duplicate bool
}

// group commits sends in batches: whatever queued while the previous batch
// of a runner was committing goes into its next one, so under load one
// transaction (and one fsync) carries many messages, while a lone send
// waits for nothing but its own commit. There is no timer: batching costs
// no latency when idle.
//
// Admission control: the database is the bottleneck of the message path,
// so the queue in front of it is where overload shows first. A send is
// refused at once with ErrOverloaded (retryable) when sends are waiting and
// the wait is past half of maxWait — the oldest waiting send's age, or how
// long the recent ones waited before their batch began — or when the queue
// is full;
// a send that was let in but still waited past maxWait is refused when its
// batch is formed, never stored late. A send whose context ended before its
// batch began is dropped the same way. So under overload the excess is
// refused fast and the accepted sends keep their latency.
type group struct {
	run func([]*pendingSend) // commits one batch, answering each send

	mu       sync.Mutex
	queue    []*pendingSend
	running  int
	runners  int // batches in flight at most
	maxBatch int
	maxQueue int
	maxWait  time.Duration // negative: no bound
	// wait is a moving average of how long sends waited before their batch
	// began, in nanoseconds.
	wait atomic.Int64
}

func newGroup(runners, maxBatch, maxQueue int, maxWait time.Duration, run func([]*pendingSend)) *group {
	return &group{run: run, runners: runners, maxBatch: maxBatch, maxQueue: maxQueue, maxWait: maxWait}
}

// submit queues p, starting a runner when fewer than runners are busy.
func (g *group) submit(p *pendingSend) error {
	now := time.Now()
	g.mu.Lock()
	if len(g.queue) >= g.maxQueue || g.late(now) {
		g.mu.Unlock()
		return ErrOverloaded
	}
	p.queued = now
	g.queue = append(g.queue, p)
	if g.running >= g.runners {
		g.mu.Unlock()
		return nil
	}
	g.running++
	batch := g.take()
	g.mu.Unlock()
	go g.loop(batch)
	return nil
}

// late reports whether a send queued now is likely to wait past maxWait:
// sends are waiting and the oldest has waited half of it already, or
// recent sends did. Half, because a send let in behind one that old
// would itself wait about as long again, and be refused late (after
// waiting) instead of now. A send finding no queue is always let in.
// g.mu is held.
func (g *group) late(now time.Time) bool {
	if g.maxWait < 0 || len(g.queue) == 0 {
		return false
	}
	soft := g.maxWait / 2
	return now.Sub(g.queue[0].queued) > soft || time.Duration(g.wait.Load()) > soft
}

// loop commits batches until the queue is empty.
func (g *group) loop(batch []*pendingSend) {
	for {
		if live := g.dropLate(batch); len(live) > 0 {
			g.run(live)
		}
		g.mu.Lock()
		if len(g.queue) == 0 {
			g.running--
			g.mu.Unlock()
			return
		}
		batch = g.take()
		g.mu.Unlock()
	}
}

// take removes the next batch from the queue; g.mu is held. Two sends with
// the same key never share a batch (the second would fail the batch's
// insert); the later one waits for the next batch.
func (g *group) take() []*pendingSend {
	batch := make([]*pendingSend, 0, min(len(g.queue), g.maxBatch))
	rest := g.queue[:0]
	seen := make(map[ClientKey]bool, len(g.queue))
	for _, p := range g.queue {
		k := ClientKey{SenderID: p.userID, ClientMsgID: p.in.ClientMsgID}
		if len(batch) < g.maxBatch && !seen[k] {
			seen[k] = true
			batch = append(batch, p)
			continue
		}
		rest = append(rest, p)
	}
	clear(g.queue[len(rest):])
	g.queue = rest
	return batch
}

// dropLate answers the sends whose caller gave up before their batch
// began, or that waited past maxWait, and returns the others; a dropped
// send is never stored. It also folds each send's wait into g.wait (1/8
// weight per send: it follows a change of load within a batch or two).
func (g *group) dropLate(batch []*pendingSend) []*pendingSend {
	now := time.Now()
	live := batch[:0:0]
	for _, p := range batch {
		waited := now.Sub(p.queued)
		old := g.wait.Load()
		g.wait.Store(old + (int64(waited)-old)/8)
		if p.ctx.Err() != nil || (g.maxWait >= 0 && waited > g.maxWait) {
			p.done <- sendResult{err: ErrOverloaded}
			continue
		}
		live = append(live, p)
	}
	return live
}
