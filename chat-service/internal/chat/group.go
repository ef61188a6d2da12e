package chat

import (
	"context"
	"sync"
)

// pendingSend is a validated send waiting for its group commit.
type pendingSend struct {
	ctx     context.Context
	userID  string
	convID  string
	in      NewMessage
	replyTo *string
	done    chan sendResult // buffered: the committer never blocks on it
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
// The queue is bounded: a send that finds it full is refused at once with
// ErrOverloaded instead of waiting behind work that will not finish soon,
// and a send whose context ended before its batch began is dropped, never
// stored later.
type group struct {
	run func([]*pendingSend) // commits one batch, answering each send

	mu       sync.Mutex
	queue    []*pendingSend
	running  int
	runners  int // batches in flight at most
	maxBatch int
	maxQueue int
}

func newGroup(runners, maxBatch, maxQueue int, run func([]*pendingSend)) *group {
	return &group{run: run, runners: runners, maxBatch: maxBatch, maxQueue: maxQueue}
}

// submit queues p, starting a runner when fewer than runners are busy.
func (g *group) submit(p *pendingSend) error {
	g.mu.Lock()
	if len(g.queue) >= g.maxQueue {
		g.mu.Unlock()
		return ErrOverloaded
	}
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

// loop commits batches until the queue is empty.
func (g *group) loop(batch []*pendingSend) {
	for {
		if live := dropExpired(batch); len(live) > 0 {
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
