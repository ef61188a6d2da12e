package token

import (
	"sync"
	"time"
)

// WithCache makes Verify remember up to size tokens it accepted, keyed by
// the exact token string, until they expire. A service that receives many
// requests carrying the same token (the gateway mints identical internal
// tokens for one user within one second: same claims, deterministic
// Ed25519 signature) then pays the signature check once.
//
// It accepts exactly what a full check would: everything Verify checks
// besides time (signature, kid, algorithm, issuer, audience, subject,
// lifetime) is a function of the token string and the verifier's fixed key
// set, so a string that passed once passes again; the time checks are
// repeated on every hit against the cached exp, nbf and iat with the same
// leeway. Refusals are never cached, so garbage still costs a full check
// (bounded by MaxTokenBytes), and a cached token cannot outlive its exp.
func WithCache(size int) VerifierOption {
	return func(v *Verifier) {
		if size > 0 {
			v.cache = &verifyCache{size: size, entries: make(map[string]cachedClaims, size)}
		}
	}
}

// verifyCache holds accepted tokens; a full cache first drops the expired
// entries, then, if still full, an arbitrary half (map order), which keeps
// the cost of a miss bounded without bookkeeping on every hit.
type verifyCache struct {
	size    int
	mu      sync.Mutex
	entries map[string]cachedClaims
}

type cachedClaims struct {
	claims    Claims
	exp       time.Time
	notBefore time.Time // the later of nbf and iat; zero when neither is set
}

// get returns a copy of raw's claims when raw was accepted before and is
// still within its time bounds at now.
func (c *verifyCache) get(raw string, now time.Time, leeway time.Duration) (*Claims, bool) {
	c.mu.Lock()
	e, ok := c.entries[raw]
	c.mu.Unlock()
	if !ok || !now.Before(e.exp.Add(leeway)) || now.Before(e.notBefore.Add(-leeway)) {
		return nil, false
	}
	out := e.claims
	out.Audience = append(out.Audience[:0:0], e.claims.Audience...)
	return &out, true
}

// put remembers accepted claims; Verify only accepts tokens with exp.
func (c *verifyCache) put(raw string, claims *Claims, now time.Time) {
	if claims.ExpiresAt == nil {
		return
	}
	e := cachedClaims{claims: *claims, exp: claims.ExpiresAt.Time}
	e.claims.Audience = append(e.claims.Audience[:0:0], claims.Audience...)
	if claims.NotBefore != nil {
		e.notBefore = claims.NotBefore.Time
	}
	if claims.IssuedAt != nil && claims.IssuedAt.After(e.notBefore) {
		e.notBefore = claims.IssuedAt.Time
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.entries) >= c.size {
		for k, old := range c.entries {
			if now.After(old.exp) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries {
			if len(c.entries) < c.size/2+1 {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[raw] = e
}
