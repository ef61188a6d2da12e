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
