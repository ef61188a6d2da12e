package chat

import (
	"context"
	"errors"
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

// TestGroupRefusesSendsThatWouldWaitTooLong: with commits known to take
// 100ms and a 50ms wait budget, sends the next batch can still take are
// let in however slow a commit is (they ride along), and a send finding a
// full batch already waiting is refused at once, never committed. The
// average is learnt from the batches run.
func TestGroupRefusesSendsThatWouldWaitTooLong(t *testing.T) {
	t.Parallel()
	const budget = 50 * time.Millisecond
	release := make(chan struct{})
	committed := make(chan string, 16)
	g := newGroup(1, 2, 100, budget, func(batch []*pendingSend) {
		<-release
		for _, p := range batch {
			committed <- p.in.ClientMsgID
			p.done <- sendResult{created: true}
		}
	})
	g.batch.Store(int64(100 * time.Millisecond))
	send := func(key string) (*pendingSend, error) {
		p := &pendingSend{ctx: context.Background(), userID: "u", in: NewMessage{ClientMsgID: key}, done: make(chan sendResult, 1)}
		return p, g.submit(p)
	}
	var admitted []*pendingSend
	for _, k := range []string{"running", "next-1", "next-2"} {
		p, err := send(k)
		if err != nil {
			t.Fatalf("submit %s: %v, want let in (the next batch can take it)", k, err)
		}
		admitted = append(admitted, p)
	}
	start := time.Now()
	if _, err := send("refused"); !errors.Is(err, ErrOverloaded) {
		t.Fatalf("a send behind a full batch of 100ms commits = %v, want ErrOverloaded", err)
	}
	if took := time.Since(start); took > budget {
		t.Errorf("refusal took %v, want immediate", took)
	}
	close(release)
	for _, p := range admitted {
		if r := <-p.done; !r.created {
			t.Errorf("%s: %+v, want committed", p.in.ClientMsgID, r)
		}
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		g.mu.Lock()
		idle := g.running == 0
		g.mu.Unlock()
		if idle {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the runner never went idle")
		}
	}
	close(committed)
	for k := range committed {
		if k == "refused" {
			t.Error("the refused send was committed")
		}
	}
	if avg := time.Duration(g.batch.Load()); avg <= 0 || avg >= 100*time.Millisecond {
		t.Errorf("average commit %v after two fast batches, want it learnt down from 100ms", avg)
	}
}
