package chat

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

// TestGroupRefusesWhenQueueFull holds the only runner inside a slow batch,
// fills the queue, and checks that the next send is refused at once with
// ErrOverloaded, and that a queued send whose caller gave up before its
// batch began is never committed.
func TestGroupRefusesWhenQueueFull(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	committed := make(chan string, 16)
	g := newGroup(1, 4, 3, -1, func(batch []*pendingSend) {
		<-release
		for _, p := range batch {
			committed <- p.in.ClientMsgID
			p.done <- sendResult{created: true}
		}
	})
	send := func(ctx context.Context, key string) (*pendingSend, error) {
		p := &pendingSend{ctx: ctx, userID: "u", in: NewMessage{ClientMsgID: key}, done: make(chan sendResult, 1)}
		return p, g.submit(p)
	}
	first, err := send(context.Background(), "running")
	if err != nil {
		t.Fatal(err)
	}
	gone, cancel := context.WithCancel(context.Background())
	abandoned, err := send(gone, "abandoned")
	if err != nil {
		t.Fatal(err)
	}
	var queued []*pendingSend
	for _, k := range []string{"q1", "q2"} {
		p, err := send(context.Background(), k)
		if err != nil {
			t.Fatalf("submit %s: %v, want queued", k, err)
		}
		queued = append(queued, p)
	}
	start := time.Now()
	if _, err := send(context.Background(), "refused"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("submit past the queue bound = %v, want ErrOverloaded", err)
	}
	if took := time.Since(start); took > 50*time.Millisecond {
		t.Errorf("refusal took %v, want immediate", took)
	}
	cancel()
	close(release)
	for _, p := range append([]*pendingSend{first}, queued...) {
		if r := <-p.done; !r.created {
			t.Errorf("%s: %+v, want committed", p.in.ClientMsgID, r)
		}
	}
	if r := <-abandoned.done; !errors.Is(r.err, ErrOverloaded) {
		t.Errorf("abandoned send answered %+v, want dropped with ErrOverloaded", r)
	}
	close(committed)
	for k := range committed {
		if k == "abandoned" {
			t.Error("a send whose caller gave up before its batch began was committed")
		}
	}
}

// TestGroupNeverBatchesOneKeyTwice checks take: the second send of a key
// waits for the next batch, and the batch bound holds.
func TestGroupNeverBatchesOneKeyTwice(t *testing.T) {
	t.Parallel()
	g := &group{maxBatch: 3}
	for _, k := range []string{"a", "a", "b", "c", "d"} {
		g.queue = append(g.queue, &pendingSend{userID: "u", in: NewMessage{ClientMsgID: k}})
	}
	var got [][]string
	for len(g.queue) > 0 {
		var keys []string
		for _, p := range g.take() {
			keys = append(keys, p.in.ClientMsgID)
		}
		got = append(got, keys)
	}
	want := [][]string{{"a", "b", "c"}, {"a", "d"}}
	if len(got) != len(want) {
		t.Fatalf("batches = %v, want %v", got, want)
	}
	for i := range want {
		if len(got[i]) != len(want[i]) {
			t.Fatalf("batches = %v, want %v", got, want)
		}
		for j := range want[i] {
			if got[i][j] != want[i][j] {
				t.Fatalf("batches = %v, want %v", got, want)
			}
		}
	}
}

// TestGroupAdaptsItsLimitToLatency: with a 50ms latency target and a limit
// of 24, 24 sends are let in while the runner is held and the next is
// refused at once, never committed. The held batch answers late, which
// cuts the limit (once for that spell, however many late batches report);
// fast batches then raise it again, and a refused send goes through once
// there is room.
func TestGroupAdaptsItsLimitToLatency(t *testing.T) {
	t.Parallel()
	const target = 50 * time.Millisecond
	release := make(chan struct{})
	committed := make(chan string, 64)
	g := newGroup(1, 8, 100, target, func(batch []*pendingSend) {
		<-release
		for _, p := range batch {
			committed <- p.in.ClientMsgID
			p.done <- sendResult{created: true}
		}
	})
	g.limit = 24
	send := func(key string) (*pendingSend, error) {
		p := &pendingSend{ctx: context.Background(), userID: "u", in: NewMessage{ClientMsgID: key}, done: make(chan sendResult, 1)}
		return p, g.submit(p)
	}
	var admitted []*pendingSend
	for i := range 24 {
		k := fmt.Sprintf("held-%d", i)
		p, err := send(k)
		if err != nil {
			t.Fatalf("submit %s: %v, want let in (under the limit)", k, err)
		}
		admitted = append(admitted, p)
	}
	start := time.Now()
	if _, err := send("refused"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("a send over the limit = %v, want ErrOverloaded", err)
	}
	if took := time.Since(start); took > target {
		t.Errorf("refusal took %v, want immediate", took)
	}
	time.Sleep(2 * target) // the held sends are now late
	close(release)
	for _, p := range admitted {
		if r := <-p.done; !r.created {
			t.Errorf("%s: %+v, want committed", p.in.ClientMsgID, r)
		}
	}
	idle := func() bool {
		g.mu.Lock()
		defer g.mu.Unlock()
		return g.running == 0
	}
	for deadline := time.Now().Add(5 * time.Second); !idle(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the runner never went idle")
		}
	}
	g.mu.Lock()
	cutTo, inflight := g.limit, g.inflight
	g.mu.Unlock()
	if cutTo != 18 || inflight != 0 {
		t.Fatalf("after a late spell: limit %v, in flight %d; want 18 (cut by a quarter, once) and 0", cutTo, inflight)
	}
	// Fast batches now: the limit grows back and sends go through.
	for i := range 20 {
		p, err := send(fmt.Sprintf("fast-%d", i))
		if err != nil {
			t.Fatalf("fast send %d: %v, want let in", i, err)
		}
		if r := <-p.done; !r.created {
			t.Fatalf("fast send %d: %+v", i, r)
		}
	}
	g.mu.Lock()
	grown := g.limit
	g.mu.Unlock()
	if grown <= cutTo {
		t.Errorf("limit %v after 20 fast sends, want it grown from %v", grown, cutTo)
	}
	close(committed)
	for k := range committed {
		if k == "refused" {
			t.Error("the refused send was committed")
		}
	}
}
