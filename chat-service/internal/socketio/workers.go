package socketio

import (
	"context"
	"errors"
	"hash/fnv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/problem"
)

// workers runs link commands on a fixed set of goroutines. One user's
// commands always go to the same worker, so they run in the order the
// gateway sent them; at most perUser of them wait or run at once, so one
// user flooding the link is refused (429, to them only) long before their
// worker's queue is full and other users on it would be refused too.
//
// Admission control: a command that could not start within maxWait is
// refused (503 overloaded, retryable) instead of queueing behind work that
// will not finish soon and timing out at the gateway. At submit the wait is
// estimated from the worker's queue length and its recent command duration
// and waits, and the command refused at once when the estimate is past
// maxWait (a command finding the queue empty is always let in); a
// command that still waited longer (the estimate was low) is refused when
// its turn comes, without running, so it is never stored late.
type workers struct {
	perUser int
	maxWait time.Duration
	queues  []*worker
	wg      sync.WaitGroup

	mu      sync.Mutex
	pending map[string]int
	closed  bool
}

// worker is one goroutine's queue, its moving average of command duration
// and of the wait of the commands it took, in nanoseconds.
type worker struct {
	q    chan job
	avg  atomic.Int64
	wait atomic.Int64
}

// job is a queued command: run it, or refuse it when it waited too long.
type job struct {
	queued time.Time
	run    func()
	refuse func()
}

func newWorkers(n, queueSize, perUser int, maxWait time.Duration) *workers {
	w := &workers{perUser: perUser, maxWait: maxWait, queues: make([]*worker, n), pending: map[string]int{}}
	for i := range w.queues {
		wk := &worker{q: make(chan job, queueSize)}
		w.queues[i] = wk
		w.wg.Go(func() {
			for j := range wk.q {
				start := time.Now()
				ewma(&wk.wait, start.Sub(j.queued))
				if start.Sub(j.queued) > w.maxWait {
					j.refuse()
					continue
				}
				j.run()
				ewma(&wk.avg, time.Since(start))
			}
		})
	}
	return w
}

// ewma folds d into the moving average at v (1/8 weight: it follows a
// change of load within a few dozen commands); the first value sets it.
// Only the worker's goroutine writes it.
func ewma(v *atomic.Int64, d time.Duration) {
	old := v.Load()
	if old == 0 {
		v.Store(max(int64(d), 1))
		return
	}
	v.Store(old + (int64(d)-old)/8)
}

// errClosing refuses a command that arrives while the link closes: 503
// unavailable with a one-second retry hint, the answer of an instance going
// away. Not overloaded, which tells a gateway to shed commands to every
// instance for a while.
var errClosing = problem.RetryLater(errors.New("the link is closing"))

// submit queues run for userID. It refuses with chat.ErrTooManyCommands
// when the user already has perUser commands waiting or running, and with
// chat.ErrOverloaded when the worker's queue is full or the expected wait
// is past maxWait, and with errClosing once the link closes. refuse answers the command if it
// is refused later, when its turn comes too late.
func (w *workers) submit(userID string, run, refuse func()) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errClosing
	}
	if w.pending[userID] >= w.perUser {
		return chat.ErrTooManyCommands
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(userID))
	wk := w.queues[h.Sum32()%uint32(len(w.queues))]
	// The expected wait: the queue ahead times the recent command duration,
	// or, while commands are waiting, how long the recent ones waited
	// (which also counts time the process was short of CPU).
	if n := len(wk.q); n > 0 && max(time.Duration(int64(n)*wk.avg.Load()), time.Duration(wk.wait.Load())) > w.maxWait {
		return chat.ErrOverloaded
	}
	j := job{
		queued: time.Now(),
		run:    func() { defer w.done(userID); run() },
		refuse: func() { defer w.done(userID); refuse() },
	}
	select {
	case wk.q <- j:
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
		for _, wk := range w.queues {
			close(wk.q)
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
