package socketio

import (
	"context"
	"errors"
	"maps"
	"testing"
	"time"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// TestWorkersRefuseWorkThatCannotStartSoon runs one worker with slow
// commands (200ms each, standing in for a slow store) and a 50ms wait
// budget: once the worker has learnt how long its commands take, a command
// behind a queued one is refused at once with ErrOverloaded, and a command
// that was queued but whose turn came too late is refused without running.
func TestWorkersRefuseWorkThatCannotStartSoon(t *testing.T) {
	t.Parallel()
	w := newWorkers(1, 16, 16, 50*time.Millisecond)
	defer w.close(context.Background())
	slow := func() { time.Sleep(200 * time.Millisecond) }
	// Teach the worker its commands' duration.
	done := make(chan struct{})
	if err := w.submit("a", func() { slow(); close(done) }, func() { t.Error("first command refused") }); err != nil {
		t.Fatal(err)
	}
	<-done
	// One runs, one waits (its expected wait, one command, is past the
	// budget, but the first in an empty queue is always let in).
	running := make(chan struct{})
	if err := w.submit("a", func() { close(running); slow() }, func() { t.Error("running command refused") }); err != nil {
		t.Fatal(err)
	}
	<-running
	ran, refused := make(chan struct{}, 1), make(chan time.Time, 1)
	queuedAt := time.Now()
	if err := w.submit("b", func() { ran <- struct{}{} }, func() { refused <- time.Now() }); err != nil {
		t.Fatalf("command into an empty queue: %v, want queued", err)
	}
	start := time.Now()
	err := w.submit("c", func() { t.Error("refused command ran") }, func() { t.Error("refused command answered twice") })
	if !errors.Is(err, chat.ErrOverloaded) {
		t.Fatalf("command behind a slow queue = %v, want ErrOverloaded", err)
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("refusal took %v, want well under 50ms", took)
	}
	select {
	case at := <-refused:
		if waited := at.Sub(queuedAt); waited < 50*time.Millisecond {
			t.Errorf("queued command refused after %v, before its budget", waited)
		}
	case <-ran:
		t.Fatal("a command that waited past its budget ran")
	case <-time.After(5 * time.Second):
		t.Fatal("queued command neither ran nor was refused")
	}
	// The user's credits came back: a fresh command of c runs once the
	// worker is idle again.
	time.Sleep(250 * time.Millisecond)
	w.queues[0].avg.Store(0)
	ok := make(chan struct{})
	if err := w.submit("c", func() { close(ok) }, func() { t.Error("idle worker refused") }); err != nil {
		t.Fatal(err)
	}
	<-ok
	// Jobs run one after the other on the worker, so when the next one runs
	// every earlier credit has been returned: only its own is left.
	left := make(chan map[string]int)
	if err := w.submit("z", func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		left <- maps.Clone(w.pending)
	}, func() { t.Error("idle worker refused") }); err != nil {
		t.Fatal(err)
	}
	if got := <-left; len(got) != 1 || got["z"] != 1 {
		t.Errorf("pending credits = %v, want only z's own", got)
	}
}

// TestClosingLinkRefusesUnavailable: a command arriving once the link
// closes is refused 503 unavailable with a retry hint, not overloaded
// (which would make a gateway shed commands meant for other instances).
func TestClosingLinkRefusesUnavailable(t *testing.T) {
	t.Parallel()
	w := newWorkers(1, 16, 16, time.Second)
	w.close(context.Background())
	err := w.submit("a", func() { t.Error("ran after close") }, func() {})
	if errors.Is(err, chat.ErrOverloaded) {
		t.Fatal("refused as overloaded")
	}
	p := public(err, "t1")
	if p.Status != 503 || p.Code != "unavailable" || p.RetryAfter != 1 {
		t.Fatalf("refusal %+v, want 503 unavailable with a one-second retry hint", p)
	}
}
