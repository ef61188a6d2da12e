package socketio

import (
	"context"
	"hash/fnv"
	"sync"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// workers runs link commands on a fixed set of goroutines. One user's
// commands always go to the same worker, so they run in the order the
// gateway sent them; at most perUser of them wait or run at once, so one
// user flooding the link is refused (429, to them only) long before their
// worker's queue is full and other users on it would be refused too.
type workers struct {
	perUser int
	queues  []chan func()
	wg      sync.WaitGroup

	mu      sync.Mutex
	pending map[string]int
	closed  bool
}

func newWorkers(n, queueSize, perUser int) *workers {
	w := &workers{perUser: perUser, queues: make([]chan func(), n), pending: map[string]int{}}
	for i := range w.queues {
		q := make(chan func(), queueSize)
		w.queues[i] = q
		w.wg.Go(func() {
			for job := range q {
				job()
			}
		})
	}
	return w
}

// submit queues job for userID. It refuses with chat.ErrTooManyCommands
// when the user already has perUser commands waiting or running, and with
// chat.ErrOverloaded when the worker's queue is full or the link is
// closing.
func (w *workers) submit(userID string, job func()) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return chat.ErrOverloaded
	}
	if w.pending[userID] >= w.perUser {
		return chat.ErrTooManyCommands
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(userID))
	run := func() {
		defer w.done(userID)
		job()
	}
	select {
	case w.queues[h.Sum32()%uint32(len(w.queues))] <- run:
		w.pending[userID]++
		return nil
	default:
		return chat.ErrOverloaded
	}
}

// done returns one of userID's credits.
func (w *workers) done(userID string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.pending[userID]--; w.pending[userID] <= 0 {
		delete(w.pending, userID)
	}
}

// close refuses new commands and waits, until ctx ends, for the queued ones
// to finish.
func (w *workers) close(ctx context.Context) {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		for _, q := range w.queues {
			close(q)
		}
	}
	w.mu.Unlock()
	done := make(chan struct{})
	go func() { w.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
}
