package chat

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter is a per-user token bucket. It lives in one process, so with N
// chat-service instances a user can reach N times the rate at most; the
// point is to stop one client from flooding a conversation, not metering.
// Memory is bounded: idle buckets (full again) are dropped when the map
// grows past maxUsers.
type Limiter struct {
	rate     rate.Limit
	burst    int
	maxUsers int
	now      func() time.Time

	mu    sync.Mutex
	users map[string]*rate.Limiter
}

// NewLimiter allows perSecond events per user with bursts of burst.
func NewLimiter(perSecond float64, burst int) *Limiter {
	return &Limiter{
		rate:     rate.Limit(perSecond),
		burst:    burst,
		maxUsers: 100_000,
		now:      time.Now,
		users:    make(map[string]*rate.Limiter),
	}
}

// Allow takes one token for user, or reports how long until one is free.
func (l *Limiter) Allow(user string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, found := l.users[user]
	if !found {
		if len(l.users) >= l.maxUsers {
			l.evict(now)
		}
		lim = rate.NewLimiter(l.rate, l.burst)
		l.users[user] = lim
	}
	r := lim.ReserveN(now, 1)
	if !r.OK() {
		return false, time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// evict drops buckets that have refilled (their users are idle); if every
// user is active it drops arbitrary ones, which only forgives them a burst.
func (l *Limiter) evict(now time.Time) {
	for id, lim := range l.users {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.users, id)
		}
	}
	for id := range l.users {
		if len(l.users) < l.maxUsers*9/10 {
			break
		}
		delete(l.users, id)
	}
}
