package realtime

import (
	"sync"
	"time"

	"github.com/parleychat/parley/shared/link"
	"github.com/parleychat/parley/shared/problem"
)

// errShed is the refusal of a command the gateway sheds itself while
// chat-service is refusing commands as overloaded: the same answer
// chat-service gives (503 overloaded with its one-second retry hint,
// DESIGN §9), without the trip.
var errShed = func() *problem.Problem {
	p := *problem.ErrOverloaded
	p.RetryAfter = 1
	return &p
}()

const (
	// shedQuiet is how long after chat-service's last overload refusal the
	// gateway keeps its limit; then every command is forwarded again.
	shedQuiet = time.Second
	// shedCutEvery spaces the cuts: the refusals of one spell of overload
	// arrive together and must cut the limit once, not once each.
	shedCutEvery = 50 * time.Millisecond
	// shedBackoff is what a cut keeps of the commands in flight.
	shedBackoff = 0.75
	// shedFloor is the smallest limit: a few commands always go through,
	// so the limit keeps learning.
	shedFloor = 8
)

// shedder answers commands at the gateway while chat-service is
// overloaded. Without it every command crosses the link and waits in its
// queue only to be refused there: refusals come late (behind the commands
// chat-service will accept) and cost both services CPU the accepted ones
// need. It is an AIMD limit on the commands in flight, active only while
// chat-service refuses: an overload refusal cuts the limit to three
// quarters of what was in flight (once per spell), each command answered
// otherwise raises it by 1/limit, and a second without refusals lifts it.
// A command over the limit is refused at once with 503 overloaded and the
// same retry hint. Without overload it never refuses anything.
type shedder struct {
	mu       sync.Mutex
	inflight int
	limit    float64 // 0: no limit
	lastOver time.Time
	lastCut  time.Time
}

// admit counts a command in flight, or reports false (nothing counted)
// when it must be shed.
func (g *shedder) admit(now time.Time) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.limit > 0 && now.Sub(g.lastOver) > shedQuiet {
		g.limit = 0
	}
	if g.limit > 0 && float64(g.inflight) >= g.limit {
		return false
	}
	g.inflight++
	return true
}

// done marks an admitted command answered; overloaded tells whether
// chat-service refused it as overloaded.
func (g *shedder) done(now time.Time, overloaded bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.inflight--
	switch {
	case overloaded:
		g.lastOver = now
		if now.Sub(g.lastCut) < shedCutEvery {
			return
		}
		g.lastCut = now
		base := float64(g.inflight + 1)
		if g.limit > 0 {
			base = min(base, g.limit)
		}
		g.limit = max(shedFloor, base*shedBackoff)
	case g.limit > 0:
		g.limit += 1 / g.limit
	}
}

// shedAck is the ack of a shed command.
func shedAck(traceID string) []any {
	return failedAck(link.Failed(errShed.Public(traceID)))
}
