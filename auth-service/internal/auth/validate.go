package auth

import (
	"net/mail"
	"strings"

	"github.com/parleychat/parley/auth-service/internal/password"
)

// Username and email limits.
const (
	UsernameMin = 3
	UsernameMax = 32
	EmailMax    = 254 // RFC 5321 path limit
)

// reserved usernames would read as the system speaking, or collide with the
// subjects the gateway uses in internal tokens.
var reserved = map[string]bool{
	"anonymous": true, "gateway": true, "system": true, "admin": true,
	"administrator": true, "root": true, "parley": true, "support": true,
}

// NormalizeUsername lowercases and trims a username as typed.
func NormalizeUsername(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// NormalizeEmail lowercases and trims an email address as typed.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// usernameProblem returns why a normalised username is refused, or "".
func usernameProblem(u string) string {
	switch {
	case u == "":
		return "is required"
	case len(u) < UsernameMin || len(u) > UsernameMax:
		return "must be 3 to 32 characters"
	}
	for _, r := range u {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '.') {
			return "may contain only letters a-z, digits 0-9, '_' and '.'"
		}
	}
	if reserved[u] {
		return "is reserved"
	}
	return ""
}

// emailProblem returns why a normalised email is refused, or "". The check
// is deliberately basic (one bare address with a dotted domain); only a
// confirmation mail could prove more.
func emailProblem(e string) string {
	if e == "" {
		return "is required"
	}
	if len(e) > EmailMax {
		return "must be at most 254 characters"
	}
	addr, err := mail.ParseAddress(e)
	if err != nil || addr.Name != "" || addr.Address != e {
		return "must be a valid email address"
	}
	_, domain, _ := strings.Cut(e, "@")
	if !strings.Contains(domain, ".") || strings.HasPrefix(domain, ".") || strings.HasSuffix(domain, ".") {
		return "must be a valid email address"
	}
	return ""
}

// newPasswordProblem applies the password policy.
func newPasswordProblem(pw, username, email string) string {
	return password.Problem(pw, username, email)
}
