//go:build soak

package chaos

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

// TestSoak (make soak): steady chat traffic for SOAK_DURATION (30m) at
// SOAK_RATE msg/s (100; set it to 80% of the sustained rate make
// bench-messages reports for the machine) over SOAK_CONVERSATIONS (100),
// with every session refreshed over REST every SOAK_REFRESH (5m) as a
// client does before its token expires. No socket may be lost; every
// SOAK_SAMPLE (30s) each process's goroutines, resident memory, open file
// descriptors and (gateways) connected sockets are read from its ops
// address: the sockets stay exactly the users', and the rest stays
// bounded (the last quarter's peak within a margin of the first
// quarter's, after a warm-up). At the end the chaos invariants hold.
func TestSoak(t *testing.T) {
	duration := EnvDuration(t, "SOAK_DURATION", 30*time.Minute)
	every := EnvDuration(t, "SOAK_SAMPLE", 30*time.Second)
	refresh := EnvDuration(t, "SOAK_REFRESH", 5*time.Minute)
	convs := int(EnvFloat(t, "SOAK_CONVERSATIONS", 100))
	rate := EnvFloat(t, "SOAK_RATE", 100)

	s := harness.Start(t, harness.Options{Gateways: 2, Chats: 2, UserServices: 2, LinkAllChats: true, AllUserServices: true})
	w := New(t, s, Config{Conversations: convs, Rate: rate, RESTRate: 5, Seed: Seed(t)})
	w.Start()
	samples := map[string][]sample{}
	next := time.Now()
	nextRefresh := time.Now().Add(refresh)
	for w.Elapsed() < duration {
		if time.Now().After(nextRefresh) {
			for _, u := range w.Users {
				u.refresh()
			}
			nextRefresh = nextRefresh.Add(refresh)
		}
		for _, p := range s.All() {
			m, err := p.Metrics()
			if err != nil {
				t.Errorf("%s metrics at +%s: %v", p.Name, w.Elapsed().Round(time.Second), err)
				continue
			}
			samples[p.Name] = append(samples[p.Name], sample{
				at: w.Elapsed(), goroutines: harness.Sum(m, "go_goroutines"), rss: harness.Sum(m, "process_resident_memory_bytes"),
				fds: harness.Sum(m, "process_open_fds"), sockets: harness.Sum(m, "parley_sockets_connected"),
			})
		}
		var sockets float64
		for _, g := range s.Gateways {
			if ss := samples[g.Name]; len(ss) > 0 {
				sockets += ss[len(ss)-1].sockets
			}
		}
		if int(sockets) != len(w.Users) {
			t.Errorf("at +%s the gateways hold %.0f sockets, want the %d users'", w.Elapsed().Round(time.Second), sockets, len(w.Users))
		}
		next = next.Add(every)
		pause(w.stop, time.Until(next))
	}
	w.Finish(2 * time.Minute)
	if n := w.reconnects.Load(); n != 0 {
		t.Errorf("%d sockets were lost (clients had to reconnect)", n)
	}
	names := make([]string, 0, len(samples))
	for n := range samples {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		ss := samples[n]
		first, last := quarter(ss, 0), quarter(ss, 3)
		t.Logf("figures: %s: %d samples; goroutines %.0f → %.0f (peak %.0f/%.0f first/last quarter), RSS %.1f → %.1f MiB (peak %.1f/%.1f), open fds %.0f → %.0f (peak %.0f/%.0f)%s",
			n, len(ss), ss[0].goroutines, ss[len(ss)-1].goroutines, first.goroutines, last.goroutines,
			mib(ss[0].rss), mib(ss[len(ss)-1].rss), mib(first.rss), mib(last.rss), ss[0].fds, ss[len(ss)-1].fds, first.fds, last.fds, socketsOf(n, ss))
		if last.goroutines > first.goroutines*1.25+50 {
			t.Errorf("%s: goroutines grew from a peak of %.0f to %.0f", n, first.goroutines, last.goroutines)
		}
		if last.fds > first.fds+50 {
			t.Errorf("%s: open file descriptors grew from a peak of %.0f to %.0f", n, first.fds, last.fds)
		}
		if last.rss > first.rss*1.5+32<<20 {
			t.Errorf("%s: resident memory grew from a peak of %.1f MiB to %.1f MiB", n, mib(first.rss), mib(last.rss))
		}
	}
}

type sample struct {
	at                            time.Duration
	goroutines, rss, fds, sockets float64
}

// quarter returns the peak of each figure over the q-th quarter (0..3) of
// the samples, the first sample (start-up) left out.
func quarter(ss []sample, q int) sample {
	if len(ss) > 4 {
		ss = ss[1:]
	}
	n := len(ss)
	from, to := n*q/4, max(n*(q+1)/4, n*q/4+1)
	var peak sample
	for _, s := range ss[min(from, n-1):min(to, n)] {
		peak.goroutines = max(peak.goroutines, s.goroutines)
		peak.rss = max(peak.rss, s.rss)
		peak.fds = max(peak.fds, s.fds)
	}
	return peak
}

func mib(b float64) float64 { return b / (1 << 20) }

func socketsOf(name string, ss []sample) string {
	if !strings.HasPrefix(name, "gateway") {
		return ""
	}
	lo, hi := ss[0].sockets, ss[0].sockets
	for _, s := range ss {
		lo, hi = min(lo, s.sockets), max(hi, s.sockets)
	}
	return fmt.Sprintf(", sockets %.0f–%.0f", lo, hi)
}
