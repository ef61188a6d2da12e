package chat

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/parleychat/parley/shared/input"
)

// Input limits (DESIGN.md, Public API).
const (
	MaxBodyChars        = 4000
	MaxTitleChars       = 100
	MaxClientMsgIDChars = 64
	MaxEmojiBytes       = 32
	MaxMembers          = 256
	MaxSearchQueryChars = 200
	DefaultPageSize     = 50
	MaxPageSize         = 100
)

// fields collects field errors so a request reports every problem at once.
type fields []FieldError

func (f *fields) add(field, msg string) { *f = append(*f, FieldError{Field: field, Message: msg}) }

// err returns the validation error, or nil when nothing was added.
func (f fields) err() error {
	if len(f) == 0 {
		return nil
	}
	return Invalid(f...)
}

// checkText validates a free-text field: valid UTF-8 and no NUL, which
// PostgreSQL text cannot store (input.Text).
func checkText(f *fields, field, s string) bool {
	if msg := input.Text(s); msg != "" {
		f.add(field, msg)
		return false
	}
	return true
}

// checkBody validates a message body: not blank, at most MaxBodyChars
// characters (Unicode code points, what a user counts).
func checkBody(f *fields, field, body string) {
	if !checkText(f, field, body) {
		return
	}
	switch n := utf8.RuneCountInString(body); {
	case strings.TrimSpace(body) == "":
		f.add(field, "is required")
	case n > MaxBodyChars:
		f.add(field, "must be at most 4000 characters")
	}
}

// checkTitle validates a group title and returns it trimmed.
func checkTitle(f *fields, field, title string) string {
	if !checkText(f, field, title) {
		return title
	}
	title = strings.TrimSpace(title)
	switch n := utf8.RuneCountInString(title); {
	case n == 0:
		f.add(field, "is required")
	case n > MaxTitleChars:
		f.add(field, "must be at most 100 characters")
	}
	return title
}

// checkClientMsgID validates the client's idempotency key.
func checkClientMsgID(f *fields, field, id string) {
	if !checkText(f, field, id) {
		return
	}
	switch n := utf8.RuneCountInString(id); {
	case strings.TrimSpace(id) == "":
		f.add(field, "is required")
	case n > MaxClientMsgIDChars:
		f.add(field, "must be at most 64 characters")
	}
}

// ValidEmoji reports whether s looks like one emoji (possibly a ZWJ
// sequence, with skin tones, variation selectors or keycaps). It refuses
// words, whitespace and control characters, so reactions cannot be used to
// post text.
func ValidEmoji(s string) bool {
	if s == "" || len(s) > MaxEmojiBytes || !utf8.ValidString(s) {
		return false
	}
	pictographic := false
	for _, r := range s {
		switch {
		case unicode.Is(unicode.So, r), isRegionalIndicator(r):
			pictographic = true
		case unicode.Is(unicode.Sk, r), // skin tone modifiers
			unicode.Is(unicode.Mn, r),    // variation selectors
			unicode.Is(unicode.Me, r),    // enclosing keycap
			r == 0x200D,                  // zero-width joiner
			r >= 0xE0020 && r <= 0xE007F: // tag sequences (subdivision flags)
		case r == '#' || r == '*' || (r >= '0' && r <= '9'):
			// keycap bases; only valid with an enclosing keycap, checked below
		default:
			return false
		}
	}
	if !pictographic {
		// A keycap such as "1️⃣" has no So rune but ends with U+20E3.
		return strings.HasSuffix(s, "\u20e3")
	}
	return true
}

func isRegionalIndicator(r rune) bool { return r >= 0x1F1E6 && r <= 0x1F1FF }

// pageLimit applies the default and maximum page size.
func pageLimit(f *fields, limit int) int {
	switch {
	case limit == 0:
		return DefaultPageSize
	case limit < 0 || limit > MaxPageSize:
		f.add("limit", "must be between 1 and 100")
	}
	return limit
}
