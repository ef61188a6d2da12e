package chaos

// The end of a run: settling the clients, the invariants (every
// acknowledged message stored once and seen once by every member, in seq
// order) and the figures.

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// Finish stops the traffic, waits until every client has settled its
// sends (within drain), then checks the invariants and prints the figures.
// It returns the messages stored.
func (w *World) Finish(drain time.Duration) int {
	w.t.Helper()
	close(w.genStop)
	w.gen.Wait()
	ran := time.Since(w.began)
	for _, u := range w.Users {
		close(u.sends)
	}
	deadline := time.After(drain)
	for _, u := range w.Users {
		select {
		case <-u.drained:
		case <-deadline:
		}
	}
	var hung []string
	for _, u := range w.Users {
		select {
		case <-u.drained:
		default:
			hung = append(hung, fmt.Sprintf("user %d (%d sends pending)", u.idx, u.Pending()))
		}
	}
	if len(hung) > 0 {
		w.t.Errorf("hung clients: %d did not settle their sends within %s: %s", len(hung), drain, strings.Join(hung[:min(len(hung), 10)], ", "))
	}
	stored := w.check()
	w.figures(ran, stored)
	return stored
}

// halt stops every client loop.
func (w *World) halt() {
	select {
	case <-w.stop:
		return
	default:
	}
	select {
	case <-w.genStop:
	default:
		close(w.genStop)
	}
	w.gen.Wait()
	close(w.stop)
	w.wg.Wait()
}

type row struct {
	id, sender, clientMsgID string
	seq                     int64
}

// store reads every message of the run's conversations.
func (w *World) store() map[string][]row {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, w.s.DBURL["chat-service"])
	if err != nil {
		w.t.Fatalf("chat-service database: %v", err)
	}
	defer conn.Close(ctx)
	ids := make([]string, len(w.Convs))
	for i, c := range w.Convs {
		ids[i] = c.ID
	}
	rows, err := conn.Query(ctx, `SELECT conversation_id::text, id::text, sender_id::text, client_msg_id, seq
		FROM messages WHERE conversation_id = ANY($1::uuid[]) ORDER BY conversation_id, seq`, ids)
	if err != nil {
		w.t.Fatalf("read messages: %v", err)
	}
	out := map[string][]row{}
	for rows.Next() {
		var conv string
		var r row
		if err := rows.Scan(&conv, &r.id, &r.sender, &r.clientMsgID, &r.seq); err != nil {
			w.t.Fatalf("read messages: %v", err)
		}
		out[conv] = append(out[conv], r)
	}
	if err := rows.Err(); err != nil {
		w.t.Fatalf("read messages: %v", err)
	}
	return out
}

// check verifies the invariants: every acked message stored exactly once,
// the store gap-free, every member's view equal to the store (waiting for
// deliveries still on their way), no event delivered twice on a socket.
func (w *World) check() int {
	w.t.Helper()
	st := w.store()
	stored := 0
	byKey := map[string]row{}
	for conv, rs := range st {
		for i, r := range rs {
			stored++
			if r.seq != int64(i+1) {
				w.t.Errorf("conversation %s: message %d has seq %d, want %d (gap or duplicate seq)", conv, i, r.seq, i+1)
				break
			}
			k := r.sender + "/" + r.clientMsgID
			if _, dup := byKey[k]; dup {
				w.t.Errorf("clientMsgId %s stored twice", k)
			}
			byKey[k] = r
		}
	}
	w.mu.Lock()
	acks := append([]acked(nil), w.acks...)
	w.mu.Unlock()
	seen := map[string]bool{}
	for _, a := range acks {
		k := a.sender + "/" + a.clientMsgID
		if seen[k] {
			w.t.Errorf("send %s acknowledged twice", k)
		}
		seen[k] = true
		r, ok := byKey[k]
		switch {
		case !ok:
			w.t.Errorf("acked message %s (id %s) is not stored", k, a.id)
		case r.id != a.id || r.seq != a.seq:
			w.t.Errorf("acked message %s: ack says %s#%d, store %s#%d", k, a.id, a.seq, r.id, r.seq)
		}
	}
	if len(seen) != stored {
		w.t.Errorf("%d messages stored, %d acknowledged: a stored message no client had acknowledged", stored, len(seen))
	}
	// Every member's view must become the store: deliveries may still be
	// on their way (a relay catching up after a fault).
	var lastErr error
	deadline := time.Now().Add(90 * time.Second)
	for {
		lastErr = w.compareViews(st)
		if lastErr == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if lastErr != nil {
		w.t.Errorf("views differ from the store 90 s after the traffic ended: %v", lastErr)
	}
	var dup, ooo, clashes int
	var refused []string
	for _, u := range w.Users {
		u.mu.Lock()
		dup += u.dupLive
		ooo += u.outOfOrder
		clashes += u.clashes
		refused = append(refused, u.refused...)
		u.mu.Unlock()
	}
	if dup != 0 {
		w.t.Errorf("%d events delivered twice on one socket", dup)
	}
	if clashes != 0 {
		w.t.Errorf("%d messages received with two different seqs", clashes)
	}
	if ooo != 0 {
		w.t.Errorf("%d events received live after a later event of their conversation on the same socket", ooo)
	}
	if len(refused) > 0 {
		w.t.Errorf("%d commands refused for good, e.g. %s", len(refused), refused[0])
	}
	return stored
}

// compareViews returns an error naming the first members whose view is not
// the store's messages of their conversations.
func (w *World) compareViews(st map[string][]row) error {
	var diffs []string
	missing := 0
	for _, c := range w.Convs {
		want := st[c.ID]
		for _, m := range c.Members {
			m.mu.Lock()
			v := m.view[c.ID]
			miss := 0
			for _, r := range want {
				if s, ok := v[r.id]; !ok || s != r.seq {
					miss++
				}
			}
			extra := len(v) - (len(want) - miss)
			m.mu.Unlock()
			if miss > 0 || extra > 0 {
				missing += miss
				diffs = append(diffs, fmt.Sprintf("user %d in %s: %d missing, %d not stored", m.idx, c.ID, miss, extra))
			}
		}
	}
	if len(diffs) == 0 {
		return nil
	}
	sort.Strings(diffs)
	return fmt.Errorf("%d members, %d messages missing in all: %s", len(diffs), missing, strings.Join(diffs[:min(len(diffs), 8)], "; "))
}

// figures prints what the run did, per fault.
func (w *World) figures(ran time.Duration, stored int) {
	var live, fromSync, syncReq, dup int
	for _, u := range w.Users {
		u.mu.Lock()
		live += u.live
		fromSync += u.fromSync
		syncReq += u.syncRequired
		dup += u.dupLive
		u.mu.Unlock()
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Logf("figures: %d users, %d conversations, %d gateways, %d chat-services, %d user-services; seed %d",
		len(w.Users), len(w.Convs), len(w.s.Gateways), len(w.s.Chats), len(w.s.UserServices), w.cfg.Seed)
	w.t.Logf("figures: %s of traffic at %.0f msg/s offered: %d sends, %d acknowledged and stored (%.0f msg/s), %d not offered (client backlog full); %d REST reads ok",
		ran.Round(time.Second), w.cfg.Rate, w.offered.Load(), stored, float64(stored)/ran.Seconds(), w.skipped, w.restOK.Load())
	w.t.Logf("figures: send-to-ack p50 %s, p99 %s, max %s", percentile(w.latencies, 50).Round(100*time.Microsecond),
		percentile(w.latencies, 99).Round(100*time.Microsecond), percentile(w.latencies, 100).Round(100*time.Microsecond))
	w.t.Logf("figures: deliveries %d live + %d from sync; %d reconnects, %d syncs, %d sync:required; %d duplicates on a socket",
		live, fromSync, w.reconnects.Load(), w.syncs.Load(), syncReq, dup)
	for _, f := range append([]*Fault{w.baseline}, w.faults...) {
		rec := "no socket client failed"
		switch {
		case f == w.baseline:
			rec = "not a fault"
		case !f.Recovered.IsZero():
			rec = fmt.Sprintf("socket clients recovered %s after it", f.Recovered.Sub(f.At).Round(10*time.Millisecond))
		}
		back := ""
		if !f.Back.IsZero() {
			back = fmt.Sprintf(", back and ready %s after it", f.Back.Sub(f.At).Round(10*time.Millisecond))
		}
		if f.Stopping > 0 {
			back += fmt.Sprintf(", exited %s after SIGTERM", f.Stopping.Round(time.Millisecond))
		}
		if f == w.baseline && len(f.Failures) == 0 {
			continue
		}
		w.t.Logf("figures: %s%s: %s; client-visible failures %s; %d messages resent", f.What, back, rec, Tally(f.Failures), f.Resent)
	}
}

// Tally prints counts by kind, sorted by kind: "a ×2, b ×1", or "none".
func Tally(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

// FailureCounts returns the client-visible failures counted against f.
func (w *World) FailureCounts(f *Fault) map[string]int {
	w.mu.Lock()
	defer w.mu.Unlock()
	out := make(map[string]int, len(f.Failures))
	for k, v := range f.Failures {
		out[k] = v
	}
	return out
}

// Faults returns the faults injected so far.
func (w *World) Faults() []*Fault {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]*Fault(nil), w.faults...)
}
