// Package input holds the checks every outside string passes before it is
// used: text that PostgreSQL can store (valid UTF-8, no NUL), ids in their one
// canonical form, and header values made safe to store and log.
//
// jsonbody runs Strings over every decoded request body, so a handler only
// sees text that passed; query parameters, path segments and socket payloads
// call Text and ParseID themselves.
package input

import (
	"reflect"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/parleychat/parley/shared/problem"
)

// Text reports why s cannot be accepted as text, or "" when it can: it must
// be valid UTF-8 and hold no NUL, which PostgreSQL text cannot store.
func Text(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "must be valid UTF-8"
	case strings.IndexByte(s, 0) >= 0:
		return "must not contain NUL characters"
	}
	return ""
}

// Strings walks v (a decoded value: structs, pointers, slices, maps, strings)
// and returns a field error for every string, map key included, that Text
// refuses. Field names follow the json tags, joined with dots and indexes
// ("members[2]", "meta.name"), as clients wrote them.
func Strings(v any) []problem.FieldError {
	var out []problem.FieldError
	walk(reflect.ValueOf(v), "", &out)
	return out
}

func walk(v reflect.Value, path string, out *[]problem.FieldError) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		if !v.IsNil() {
			walk(v.Elem(), path, out)
		}
	case reflect.String:
		if msg := Text(v.String()); msg != "" {
			*out = append(*out, problem.FieldError{Field: path, Message: msg})
		}
	case reflect.Struct:
		t := v.Type()
		for i := range t.NumField() {
			f := t.Field(i)
			if !f.IsExported() {
				continue
			}
			name := f.Name
			if tag, _, _ := strings.Cut(f.Tag.Get("json"), ","); tag == "-" {
				continue
			} else if tag != "" {
				name = tag
			}
			if f.Anonymous && f.Tag.Get("json") == "" {
				walk(v.Field(i), path, out)
				continue
			}
			walk(v.Field(i), join(path, name), out)
		}
	case reflect.Slice, reflect.Array:
		if v.Kind() == reflect.Slice && v.Type().Elem().Kind() == reflect.Uint8 {
			return // []byte and json.RawMessage are not text
		}
		for i := range v.Len() {
			walk(v.Index(i), path+"["+strconv.Itoa(i)+"]", out)
		}
	case reflect.Map:
		iter := v.MapRange()
		for iter.Next() {
			k := iter.Key()
			if k.Kind() == reflect.String {
				if msg := Text(k.String()); msg != "" {
					*out = append(*out, problem.FieldError{Field: path, Message: "keys " + msg})
					continue
				}
				walk(iter.Value(), join(path, k.String()), out)
				continue
			}
			walk(iter.Value(), path, out)
		}
	}
}

func join(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// ParseID returns s as a UUID in its canonical form (36 characters, lower
// case) and whether s was one. Only the hyphenated 8-4-4-4-12 form is
// accepted: "urn:uuid:", braces and the 32-digit form are refused, so one id
// has exactly one spelling everywhere after this call.
func ParseID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	u, err := uuid.Parse(s)
	if err != nil {
		return "", false
	}
	return u.String(), true
}

// Header makes a header value safe to store and log: invalid UTF-8 and
// control characters are dropped (a client that sends them can still sign
// in) and the result is cut to at most max bytes on a rune boundary.
func Header(s string, max int) string {
	clean := strings.Map(func(r rune) rune {
		if r == utf8.RuneError || unicode.IsControl(r) {
			return -1
		}
		return r
	}, strings.ToValidUTF8(s, ""))
	if len(clean) <= max {
		return clean
	}
	cut := clean[:max]
	for !utf8.ValidString(cut) {
		cut = cut[:len(cut)-1]
	}
	return cut
}
