package token

// The reasons Verify wraps, for the external tests that check each refusal
// is refused for the right reason.
var (
	ReasonTooLong    = errTooLong
	ReasonNoKID      = errNoKID
	ReasonUnknownKID = errUnknownKID
	ReasonCrit       = errCrit
	ReasonAudience   = errAudience
	ReasonSubject    = errSubject
	ReasonNoIAT      = errNoIAT
	ReasonLifetime   = errLifetime
)

// CacheLen is how many accepted tokens v remembers.
func CacheLen(v *Verifier) int {
	v.cache.mu.Lock()
	defer v.cache.mu.Unlock()
	return len(v.cache.entries)
}
