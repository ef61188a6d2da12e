package session

import (
	"sync"
	"time"
)

// mintReuse is how long a minted internal token is handed out again for
// the same subject, session and audience. Every Socket.IO command carries
// one; reusing it saves an Ed25519 signature here and, because the string
// repeats, a verification at the service (token.WithCache). The token
// still has InternalTTL-mintReuse (25 s) to live when last handed out,
// more than any forwarded command waits. Revocation is unaffected: the
// gateway checks the session before minting, whether or not it mints anew.
const mintReuse = 5 * time.Second

// mintCacheSize bounds the tokens remembered; past it the stale ones go,
// then everything.
const mintCacheSize = 16384

type mintKey struct{ sub, sid, aud string }

type mintedToken struct {
	raw string
	at  time.Time
}

// mintCache remembers recently minted tokens.
type mintCache struct {
	mu      sync.Mutex
	entries map[mintKey]mintedToken
}

// get returns the token minted for k less than mintReuse before now.
func (c *mintCache) get(k mintKey, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[k]
	if !ok || now.Sub(e.at) >= mintReuse || now.Before(e.at) {
		return "", false
	}
	return e.raw, true
}

// put remembers raw, minted for k at at.
func (c *mintCache) put(k mintKey, raw string, at time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.entries == nil {
		c.entries = map[mintKey]mintedToken{}
	}
	if len(c.entries) >= mintCacheSize {
		for key, e := range c.entries {
			if at.Sub(e.at) >= mintReuse {
				delete(c.entries, key)
			}
		}
		if len(c.entries) >= mintCacheSize {
			clear(c.entries)
		}
	}
	c.entries[k] = mintedToken{raw: raw, at: at}
}
