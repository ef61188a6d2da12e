package users

import (
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"
)

// Limits on profile fields (characters, i.e. Unicode code points, except
// the URL, which is bytes).
const (
	MaxDisplayName = 64
	MaxBio         = 500
	MaxAvatarURL   = 2048
	MaxQuery       = 64
	DefaultLimit   = 20
	MaxLimit       = 100
)

// validateUpdate normalises u (trimming surrounding spaces) and checks it.
func validateUpdate(u Update) (Update, error) {
	var errs []FieldError
	if u.DisplayName != nil {
		v := strings.TrimSpace(*u.DisplayName)
		u.DisplayName = &v
		switch n := utf8.RuneCountInString(v); {
		case n == 0:
			errs = append(errs, FieldError{"displayName", "must not be empty"})
		case n > MaxDisplayName:
			errs = append(errs, FieldError{"displayName", "must be at most 64 characters"})
		case hasControl(v, false):
			errs = append(errs, FieldError{"displayName", "must not contain control characters"})
		}
	}
	if u.Bio != nil {
		v := strings.TrimSpace(strings.ReplaceAll(*u.Bio, "\r\n", "\n"))
		u.Bio = &v
		switch {
		case utf8.RuneCountInString(v) > MaxBio:
			errs = append(errs, FieldError{"bio", "must be at most 500 characters"})
		case hasControl(v, true):
			errs = append(errs, FieldError{"bio", "must not contain control characters other than line breaks"})
		}
	}
	if u.AvatarURL != nil {
		v := strings.TrimSpace(*u.AvatarURL)
		u.AvatarURL = &v
		if msg := checkAvatarURL(v); msg != "" {
			errs = append(errs, FieldError{"avatarUrl", msg})
		}
	}
	if len(errs) > 0 {
		return Update{}, &InvalidError{Fields: errs}
	}
	return u, nil
}

// checkAvatarURL returns why v is not an acceptable avatar URL, or "".
// Only absolute https URLs with a host and no credentials are accepted: the
// URL ends up in other users' browsers.
func checkAvatarURL(v string) string {
	if v == "" {
		return "" // clears the avatar
	}
	if len(v) > MaxAvatarURL {
		return "must be at most 2048 bytes"
	}
	if hasControl(v, false) || strings.ContainsAny(v, " \t") {
		return "must not contain spaces or control characters"
	}
	u, err := url.Parse(v)
	switch {
	case err != nil:
		return "must be a valid URL"
	case u.Scheme != "https":
		return "must be an https URL"
	case u.Host == "" || u.Hostname() == "":
		return "must name a host"
	case u.User != nil:
		return "must not contain credentials"
	}
	return ""
}

// hasControl reports control characters, and the bidirectional overrides
// that let a name display as something else; newlines count as control
// characters unless allowNewline.
func hasControl(s string, allowNewline bool) bool {
	for _, r := range s {
		switch {
		case r == '\n' && allowNewline:
		case unicode.IsControl(r),
			r >= '\u202a' && r <= '\u202e', r >= '\u2066' && r <= '\u2069',
			r == '\u2028', r == '\u2029':
			return true
		}
	}
	return false
}

// validUserID reports whether id is a UUID in its canonical form (lower
// case, hyphenated): the adapters canonicalize what comes from outside, so
// any other spelling here is no user's id.
func validUserID(id string) bool {
	u, err := uuid.Parse(id)
	return err == nil && u.String() == id
}

// storableText reports whether PostgreSQL can take s as text: valid UTF-8
// without NUL.
func storableText(s string) bool {
	return utf8.ValidString(s) && !strings.ContainsRune(s, 0)
}
