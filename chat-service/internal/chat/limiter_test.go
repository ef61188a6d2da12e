package chat

import (
	"testing"
	"time"
)

func TestLimiterBucket(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter(10, 20)
	l.now = func() time.Time { return now }
	take := func(n int) (allowed int, retry time.Duration) {
		for range n {
			ok, after := l.Allow("u")
			if !ok {
				return allowed, after
			}
			allowed++
		}
		return allowed, 0
	}
	if got, retry := take(30); got != 20 || retry != 100*time.Millisecond {
		t.Errorf("burst: allowed %d, retry %v; want 20 and 100ms", got, retry)
	}
	now = now.Add(500 * time.Millisecond)
	if got, _ := take(30); got != 5 {
		t.Errorf("after 0.5s: allowed %d, want 5 (10/s)", got)
	}
	if ok, _ := l.Allow("other"); !ok {
		t.Error("another user shares the bucket")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	now := time.Unix(1000, 0)
	l := NewLimiter(10, 20)
	l.now = func() time.Time { return now }
	l.maxUsers = 100
	for i := range 1000 {
		l.Allow(string(rune(i + 1)))
		now = now.Add(time.Millisecond)
	}
	if n := len(l.users); n > 100 {
		t.Errorf("tracked users = %d, want at most 100", n)
	}
}
