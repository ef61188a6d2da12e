package socketio_test

import (
	"testing"
	"time"

	"github.com/parleychat/parley/chat-service/internal/socketio"
	"github.com/parleychat/parley/shared/token"
)

// TestOverloadRefusedFastWithRetryHint gives the link one worker whose
// commands are slow (a one-second command teaches it so, standing in for
// a slow store) and a 50ms wait budget, holds it busy and queues one
// command. The next command cannot start within the budget and must be
// refused without waiting for the worker, with 503 "overloaded" and
// retryAfterMs (DESIGN §9). The queued command, whose turn comes only
// after it waited past the budget, must be refused the same way when its
// turn comes instead of running late.
func TestOverloadRefusedFastWithRetryHint(t *testing.T) {
	t.Parallel()
	const budget = 50 * time.Millisecond
	f := newFixture(t, func(c *socketio.Config) { c.Workers, c.QueueSize, c.PerUser, c.QueueWait = 1, 8, 8, budget })
	user, other, conv, sock := f.directOverLink(t)
	learnt := make(chan struct{})
	if err := socketio.Submit(f.link, other, func() { time.Sleep(time.Second); close(learnt) }); err != nil {
		t.Fatal(err)
	}
	<-learnt
	release, held := make(chan struct{}), make(chan struct{})
	if err := socketio.Submit(f.link, other, func() { close(held); <-release }); err != nil {
		t.Fatal(err)
	}
	<-held // the worker is busy and its queue empty
	tok := f.tokenFor(t, user, token.AudienceChat)
	data := map[string]any{"conversations": map[string]int64{conv.ID: 0}}
	queued := emit(t, sock, "sync", tok, data)
	for deadline := time.Now().Add(5 * time.Second); socketio.Queued(f.link) < 1; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the first command never reached the worker's queue")
		}
	}
	queuedAt := time.Now()
	a := command(t, sock, "sync", tok, data)
	if a.OK || a.Error == nil || a.Error.Status != 503 || a.Error.Code != "overloaded" || a.RetryAfterMs < 1000 {
		t.Fatalf("command behind a busy worker = %+v (retryAfterMs %d), want 503 overloaded with retryAfterMs", a.Error, a.RetryAfterMs)
	}
	// The worker was held all along, so that refusal did not wait for it.
	time.Sleep(time.Until(queuedAt.Add(2 * budget)))
	close(release)
	select {
	case q := <-queued:
		if q.OK || q.Error == nil || q.Error.Status != 503 || q.Error.Code != "overloaded" || q.RetryAfterMs < 1000 {
			t.Errorf("command whose turn came past the budget = %+v, want refused 503 overloaded", q.Error)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("queued command: no ack within 10s")
	}
}
