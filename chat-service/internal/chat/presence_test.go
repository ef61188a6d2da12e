package chat_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/parleychat/parley/chat-service/internal/chat"
	"github.com/parleychat/parley/shared/events"
)

// recorder is a Realtime that keeps what was published; the broker is not
// what these tests are about.
type recorder struct {
	mu   sync.Mutex
	sent []published
}

type published struct {
	typ        string
	recipients []string
	change     chat.PresenceChange
}

func (r *recorder) Publish(_ context.Context, typ string, d events.Delivery) error {
	var c chat.PresenceChange
	_ = json.Unmarshal(d.Payload, &c)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sent = append(r.sent, published{typ: typ, recipients: d.Recipients, change: c})
	return nil
}

// take returns and clears what was published.
func (r *recorder) take() []published {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.sent
	r.sent = nil
	return out
}

func TestPresenceAcrossDevicesAndGateways(t *testing.T) {
	t.Parallel()
	e := newEnv(t, unlimited())
	ctx := context.Background()
	a, b, stranger := e.user(t, "a"), e.user(t, "b"), e.user(t, "stranger")
	e.group(t, a, b)
	rec := &recorder{}
	p := chat.NewPresence(e.store, rec)
	hb := func(gw string, ttl int, users ...string) {
		t.Helper()
		if err := p.Heartbeat(ctx, events.GatewayPresenceV1{GatewayID: gw, Users: users, TTLSeconds: ttl}, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	expect := func(step string, wantUser string, wantOnline bool, wantNone bool) {
		t.Helper()
		got := rec.take()
		if wantNone {
			if len(got) != 0 {
				t.Errorf("%s: published %+v, want nothing", step, got)
			}
			return
		}
		if len(got) != 1 {
			t.Fatalf("%s: published %d events %+v, want 1", step, len(got), got)
		}
		g := got[0]
		if g.typ != events.TypePresence || g.change.UserID != wantUser || g.change.Online != wantOnline || g.change.LastSeenAt.IsZero() {
			t.Errorf("%s: published %+v, want %s online=%v", step, g, wantUser, wantOnline)
		}
		if len(g.recipients) != 1 || g.recipients[0] != b {
			t.Errorf("%s: recipients %v, want only the contact %s", step, g.recipients, b)
		}
	}

	hb("gw1", 30, a, stranger) // the stranger has no contacts: nothing to publish for them
	expect("first socket on gw1", a, true, false)
	hb("gw2", 30, a)
	expect("second device on gw2", "", false, true)
	hb("gw1", 30, a)
	expect("repeat heartbeat", "", false, true)
	hb("gw1", 30)
	expect("gw1 loses a, gw2 still has a", "", false, true)
	hb("gw2", 30)
	expect("last socket gone", a, false, false)

	// A stale heartbeat (retried after a newer one) changes nothing.
	if err := p.Heartbeat(ctx, events.GatewayPresenceV1{GatewayID: "gw2", Users: []string{a}, TTLSeconds: 30}, time.Now().Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	expect("stale heartbeat", "", false, true)

	// A gateway that dies stops heartbeating: its users go offline after the
	// TTL, found by the sweeper. Two instances sweep at once; one transition.
	hb("gw3", 30, a)
	expect("a on gw3", a, true, false)
	if err := p.Sweep(ctx); err != nil {
		t.Fatal(err)
	}
	expect("sweep within the TTL", "", false, true)
	hb("gw3", 1, a) // its last heartbeat, then it dies
	expect("last heartbeat", "", false, true)
	time.Sleep(1100 * time.Millisecond)
	other := chat.NewPresence(e.store, rec)
	var wg sync.WaitGroup
	for _, inst := range []*chat.Presence{p, other, p, other} {
		wg.Go(func() {
			if err := inst.Sweep(ctx); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	expect("sweep after the TTL", a, false, false)
}
