package httpapi

import (
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"

	"github.com/parleychat/parley/shared/problem"
)

// limiterKeys bounds the clients (addresses or users) one limiter tracks;
// past it, clients whose bucket is full again (idle) are forgotten first.
const limiterKeys = 100_000

// limiter is a token bucket per key (client IP or user id): rate requests
// per second, bursts of up to burst. Each gateway instance counts alone,
// so behind n instances a client gets up to n times the rate.
type limiter struct {
	scope string // "address" or "user", for the log
	limit rate.Limit
	burst int
	now   func() time.Time

	mu   sync.Mutex
	keys map[string]*rate.Limiter
}

// newLimiter returns a limiter of perSecond requests per second with a
// burst of twice that, or nil when perSecond is 0 (no limit).
func newLimiter(scope string, perSecond float64) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{scope: scope, limit: rate.Limit(perSecond), burst: max(1, int(math.Ceil(2*perSecond))),
		now: time.Now, keys: map[string]*rate.Limiter{}}
}

// wait reports how long key must wait before its next request is allowed,
// taking a token when it is 0.
func (l *limiter) wait(key string) time.Duration {
	now := l.now()
	l.mu.Lock()
	lim, ok := l.keys[key]
	if !ok {
		if len(l.keys) >= limiterKeys {
			l.forgetIdle(now)
		}
		lim = rate.NewLimiter(l.limit, l.burst)
		l.keys[key] = lim
	}
	l.mu.Unlock()
	if lim.AllowN(now, 1) {
		return 0
	}
	// Refused requests take nothing; the next token is this far away.
	return max(time.Nanosecond, time.Duration((1-lim.TokensAt(now))/float64(l.limit)*float64(time.Second)))
}

// forgetIdle drops the keys whose bucket has refilled (nothing is lost:
// a new bucket starts full), then everything if that was not enough.
func (l *limiter) forgetIdle(now time.Time) {
	for k, lim := range l.keys {
		if lim.TokensAt(now) >= float64(l.burst) {
			delete(l.keys, k)
		}
	}
	if len(l.keys) >= limiterKeys {
		clear(l.keys)
	}
}

// handler refuses a request over the limit for the key key(c) returns
// with 429 and Retry-After (whole seconds, rounded up).
func (l *limiter) handler(key func(*gin.Context) string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if d := l.wait(key(c)); d > 0 {
			p := problem.ErrTooManyRequests.Wrap(fmt.Errorf("rate limit per %s: next request allowed in %s", l.scope, d))
			p.RetryAfter = max(1, int(math.Ceil(d.Seconds())))
			problem.Write(c, p)
			return
		}
		c.Next()
	}
}

func clientIP(c *gin.Context) string { return c.ClientIP() }

func userKey(c *gin.Context) string { return identityOf(c).UserID }
