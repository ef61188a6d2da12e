package chat

import (
	"context"
	"sync"
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
// so the sends in front of it are where overload shows first. The number
// of sends admitted and not yet answered is limited, and the limit adapts
// to the latency they get (queue wait and commit, which also counts a
// process or database short of CPU): a batch whose slowest send took
// longer than target cuts the limit by a quarter (once per such spell),
// and each batch within it raises the limit a little (about one per limit
// sends). A send over the limit, or finding the queue full, is refused at
// once with ErrOverloaded (retryable). So under overload the excess is
// refused fast, the accepted sends keep their latency, and when the load
// falls the limit grows back. A send whose context ended before its batch
// began is dropped, never stored later.
type group struct {
	run func([]*pendingSend) // commits one batch, answering each send

	mu       sync.Mutex
	queue    []*pendingSend
	running  int
	runners  int // batches in flight at most
	maxBatch int
	maxQueue int
	target   time.Duration // negative: no adaptive limit
	inflight int           // admitted sends not answered yet
	limit    float64       // admitted sends at most (adaptive)
	// cut is when the limit was last cut: a batch of sends admitted before
	// it does not cut it again.
	cut time.Time
}

// The adaptive limit's floor and starting value.
const (
	minSendLimit   = 16
	startSendLimit = 256
)

func newGroup(runners, maxBatch, maxQueue int, target time.Duration, run func([]*pendingSend)) *group {
	return &group{run: run, runners: runners, maxBatch: maxBatch, maxQueue: maxQueue, target: target,
		limit: min(startSendLimit, float64(maxQueue))}
}

// submit queues p, starting a runner when fewer than runners are busy.
func (g *group) submit(p *pendingSend) error {
	g.mu.Lock()
	if len(g.queue) >= g.maxQueue || (g.target >= 0 && float64(g.inflight) >= g.limit) {
		g.mu.Unlock()
		return ErrOverloaded
	}
	g.inflight++
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

// answered returns batch's sends to the limit and adapts it to the
// latency they got. g.mu is held.
func (g *group) answered(batch []*pendingSend, now time.Time) {
	g.inflight -= len(batch)
	if g.target < 0 || len(batch) == 0 {
		return
	}
	oldest := batch[0].queued
	for _, p := range batch[1:] {
		if p.queued.Before(oldest) {
			oldest = p.queued
		}
	}
	if now.Sub(oldest) > g.target {
		if oldest.After(g.cut) {
			g.limit = max(minSendLimit, g.limit*0.75)
			g.cut = now
		}
		return
	}
	g.limit = min(float64(g.maxQueue), g.limit+float64(len(batch))/g.limit)
}

// loop commits batches until the queue is empty.
func (g *group) loop(batch []*pendingSend) {
	for {
		if live := dropExpired(batch); len(live) > 0 {
			g.run(live)
		}
		now := time.Now()
		g.mu.Lock()
		g.answered(batch, now)
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
