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
// so the queue in front of it is where overload shows first. A send that
// the next batch can still take costs nothing to admit, however slow each
// commit is: it rides along. A send that finds a full batch (or more)
// already waiting is predicted to wait that many batch commits (the recent
// average duration of one); when that is past maxWait it is refused at
// once with ErrOverloaded (retryable), as it is when the queue is full.
// So under overload the excess is refused fast and the accepted sends
// keep their latency. A send whose context ended before its batch began
// is dropped, never stored later.
type group struct {
	run func([]*pendingSend) // commits one batch, answering each send

	mu       sync.Mutex
	queue    []*pendingSend
	running  int
	runners  int // batches in flight at most
	maxBatch int
	maxQueue int
	maxWait  time.Duration // negative: no bound
	// batch is a moving average of one batch's commit, in nanoseconds.
	batch atomic.Int64
}

func newGroup(runners, maxBatch, maxQueue int, maxWait time.Duration, run func([]*pendingSend)) *group {
	return &group{run: run, runners: runners, maxBatch: maxBatch, maxQueue: maxQueue, maxWait: maxWait}
}

// submit queues p, starting a runner when fewer than runners are busy.
func (g *group) submit(p *pendingSend) error {
	g.mu.Lock()
	if len(g.queue) >= g.maxQueue || g.late() {
		g.mu.Unlock()
		return ErrOverloaded
	}
	p.queued = time.Now()
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

// late reports whether a send queued now would wait past maxWait: the
// full batches ahead of it (the runners take one each) times the recent
// commit duration. A send the next batches can take is always let in.
// g.mu is held.
func (g *group) late() bool {
	if g.maxWait < 0 {
		return false
	}
	ahead := len(g.queue) / (g.maxBatch * g.runners)
	return time.Duration(int64(ahead)*g.batch.Load()) > g.maxWait
}

// loop commits batches until the queue is empty.
func (g *group) loop(batch []*pendingSend) {
	for {
		if live := dropExpired(batch); len(live) > 0 {
			start := time.Now()
			g.run(live)
			took := int64(time.Since(start))
			old := g.batch.Load() // two runners may race here: an average either way
			if old == 0 {
				old = took
			}
			g.batch.Store(old + (took-old)/8)
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

// dropExpired answers the sends whose caller gave up before their batch
// began and returns the others; a dropped send is never stored.
func dropExpired(batch []*pendingSend) []*pendingSend {
	live := batch[:0:0]
	for _, p := range batch {
		if err := p.ctx.Err(); err != nil {
			p.done <- sendResult{err: ErrOverloaded}
			continue
		}
		live = append(live, p)
	}
	return live
}
