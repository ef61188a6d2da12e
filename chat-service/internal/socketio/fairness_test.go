package socketio_test

import (
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/chat-service/internal/socketio"
	"github.com/parleychat/parley/shared/token"
)

// TestOneUserFloodingDoesNotStarveOthers holds the only worker busy with a
// command of the flooder, lets them flood every command kind, and checks
// that the flood is refused fast with 429 and a retry hint to them only,
// while another user's commands queued on the same worker all succeed.
func TestOneUserFloodingDoesNotStarveOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, func(c *socketio.Config) { c.Workers, c.QueueSize, c.PerUser, c.QueueWait = 1, 8, 3, time.Minute })
	flooder, other, conv, sock := f.directOverLink(t)
	release := make(chan struct{})
	if err := socketio.Submit(f.link, flooder, func() { <-release }); err != nil {
		t.Fatal(err)
	}
	ft, ot := f.tokenFor(t, flooder, token.AudienceChat), f.tokenFor(t, other, token.AudienceChat)
	flood := []struct {
		name string
		data any
	}{
		{"sync", map[string]any{"conversations": map[string]int64{conv.ID: 0}}},
		{"conversation:read", map[string]any{"conversationId": conv.ID, "seq": 0}},
		{"typing", map[string]any{"conversationId": conv.ID, "typing": true}},
	}
	// The flooder has one command running; two more may wait, the rest are
	// refused at once, without waiting for the worker.
	var refused []ack
	var queued []<-chan ack
	for i := range 30 {
		c := flood[i%len(flood)]
		if i < 2 {
			queued = append(queued, emit(t, sock, c.name, ft, c.data))
			continue
		}
		a := command(t, sock, c.name, ft, c.data)
		if a.OK || a.Error == nil {
			t.Fatalf("flood command %d (%s) = %+v while the worker is held, want refused", i, c.name, a)
		}
		refused = append(refused, a)
	}
	for _, a := range refused {
		if a.Error.Status != 429 || a.Error.Code != "too_many_commands" || a.RetryAfterMs < 1000 {
			t.Errorf("refusal = %+v (retryAfterMs %d), want 429 too_many_commands with retryAfterMs", a.Error, a.RetryAfterMs)
			break
		}
	}
	// The other user's commands queue on the same worker and succeed once
	// it is free.
	var wg sync.WaitGroup
	results := make([]ack, 3) // their own credit
	for i := range results {
		c := flood[i%len(flood)]
		wg.Go(func() { results[i] = command(t, sock, c.name, ot, c.data) })
	}
	close(release)
	wg.Wait()
	for i, a := range results {
		if !a.OK {
			t.Errorf("other user's command %d = %+v, want ok", i, a.Error)
		}
	}
	for i, q := range queued {
		select {
		case a := <-q:
			if !a.OK {
				t.Errorf("flooder's queued command %d = %+v, want ok", i, a.Error)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("flooder's queued command %d: no ack within 10s", i)
		}
	}
}
