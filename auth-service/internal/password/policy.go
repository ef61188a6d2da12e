package password

import (
	"bufio"
	_ "embed"
	"strings"
	"unicode/utf8"
)

// Length limits, in characters (Unicode code points, as JSON Schema counts
// them in the public API document). MaxChars is far above any real
// passphrase yet keeps a request from feeding megabytes into the hash (4 KiB
// of UTF-8 at most); longer passwords are refused, never silently truncated.
const (
	MinChars = 8
	MaxChars = 1024
)

//go:embed common.txt
var commonTxt string

// common is the set of refused passwords, lowercased; built once at start-up
// from the embedded list and read-only afterwards.
var common = parseCommon(commonTxt)

func parseCommon(txt string) map[string]struct{} {
	set := make(map[string]struct{}, 512)
	sc := bufio.NewScanner(strings.NewReader(txt))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		set[strings.ToLower(line)] = struct{}{}
	}
	return set
}

// Problem returns why pw may not be chosen as a new password by the user
// with the given username and email, or "" when it is acceptable. It says
// nothing about composition (digits, symbols): length and the common list
// are what NIST SP 800-63B asks for.
func Problem(pw, username, email string) string {
	switch {
	case pw == "":
		return "is required"
	case utf8.RuneCountInString(pw) > MaxChars:
		return "must be at most 1024 characters"
	case utf8.RuneCountInString(pw) < MinChars:
		return "must be at least 8 characters"
	}
	lower := strings.ToLower(pw)
	if _, bad := common[lower]; bad {
		return "is too common; choose a less guessable password"
	}
	local, _, _ := strings.Cut(strings.ToLower(email), "@")
	for _, id := range []string{strings.ToLower(username), strings.ToLower(email), local} {
		if id != "" && lower == id {
			return "must not be your username or email"
		}
	}
	return ""
}

// CommonCount returns how many passwords the shipped list refuses.
func CommonCount() int { return len(common) }
