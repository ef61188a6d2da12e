package session_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/parleychat/parley/gateway/internal/session"
)

// FuzzAuthenticate feeds arbitrary session cookie values to the
// authenticator, as a client can: every value is either the genuine
// token's identity or one of the package's errors, which session.Problem
// maps to a 4xx (or the 503 while revocations load), never a 5xx.
func FuzzAuthenticate(f *testing.F) {
	fx := newFixture(f)
	parts := strings.Split(fx.raw, ".")
	for _, seed := range []string{
		fx.raw, "", "a.b.c", "not a token", parts[0] + "." + parts[1] + ".",
		parts[0] + ".e30." + parts[2], "eyJhbGciOiJub25lIn0.e30.",
		fx.raw + "x", strings.Repeat("A", 5000), "\x00.\xff.\xfe", parts[1] + "." + parts[0] + "." + parts[2],
	} {
		f.Add(seed)
	}
	sentinels := []error{session.ErrMissing, session.ErrExpired, session.ErrRevoked, session.ErrInvalid, session.ErrNotReady}
	f.Fuzz(func(t *testing.T, raw string) {
		id, err := fx.auth.Authenticate(raw)
		if err == nil {
			// Only the genuine token's signature verifies (other base64
			// spellings of it decode to the same bytes).
			if id.UserID != "user-1" || id.SessionID != "session-1" {
				t.Fatalf("accepted %q as %+v", raw, id)
			}
			return
		}
		known := false
		for _, s := range sentinels {
			known = known || errors.Is(err, s)
		}
		if !known {
			t.Fatalf("error %v is none of the package's", err)
		}
		if p := session.Problem(err); p.Status >= 500 && !errors.Is(err, session.ErrNotReady) {
			t.Fatalf("%v maps to %d", err, p.Status)
		}
	})
}
