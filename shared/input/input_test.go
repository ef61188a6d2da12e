package input

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleychat/parley/shared/problem"
)

func TestText(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"hello", ""},
		{"héllo ✓", ""},
		{"", ""},
		{"a\x00b", "must not contain NUL characters"},
		{"a\xffb", "must be valid UTF-8"},
		{"\xc3", "must be valid UTF-8"},
	}
	for _, tt := range tests {
		if got := Text(tt.in); got != tt.want {
			t.Errorf("Text(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestStrings(t *testing.T) {
	type inner struct {
		Name string `json:"name"`
	}
	type body struct {
		Login   string            `json:"login"`
		Members []string          `json:"members"`
		Meta    *inner            `json:"meta"`
		Tags    map[string]string `json:"tags"`
		Skip    string            `json:"-"`
		Plain   string
		Raw     []byte `json:"raw"`
	}
	b := body{
		Login:   "ok",
		Members: []string{"fine", "bad\x00"},
		Meta:    &inner{Name: "x\xff"},
		Tags:    map[string]string{"k": "v\x00", "bad\x00key": "v"},
		Skip:    "\x00",
		Plain:   "\x00",
		Raw:     []byte{0, 0xff},
	}
	got := map[string]string{}
	for _, fe := range Strings(&b) {
		got[fe.Field] = fe.Message
	}
	want := map[string]string{
		"members[1]": "must not contain NUL characters",
		"meta.name":  "must be valid UTF-8",
		"tags.k":     "must not contain NUL characters",
		"tags":       "keys must not contain NUL characters",
		"Plain":      "must not contain NUL characters",
	}
	if len(got) != len(want) {
		t.Fatalf("Strings = %v, want %v", got, want)
	}
	for f, m := range want {
		if got[f] != m {
			t.Errorf("field %q: got %q, want %q", f, got[f], m)
		}
	}
	if fe := Strings(body{Login: "fine"}); fe != nil {
		t.Errorf("clean body: got %v, want none", fe)
	}
	var anyBody any = map[string]any{"a": []any{"x", "y\x00"}}
	if fe := Strings(anyBody); len(fe) != 1 || fe[0] != (problem.FieldError{Field: "a[1]", Message: "must not contain NUL characters"}) {
		t.Errorf("Strings(map) = %v", fe)
	}
}

func TestParseID(t *testing.T) {
	const canon = "0190f5a4-7b6c-7d8e-9f00-112233445566"
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{canon, canon, true},
		{strings.ToUpper(canon), canon, true},
		{"urn:uuid:" + canon, "", false},
		{"{" + canon + "}", "", false},
		{strings.ReplaceAll(canon, "-", ""), "", false},
		{"0190f5a4-7b6c-7d8e-9f00-11223344556g", "", false},
		{"", "", false},
		{canon + "\x00", "", false},
	}
	for _, tt := range tests {
		got, ok := ParseID(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("ParseID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
}

func TestHeader(t *testing.T) {
	tests := []struct {
		in   string
		max  int
		want string
	}{
		{"curl/8.0", 256, "curl/8.0"},
		{"bad\xff\xfeagent", 256, "badagent"},
		{"nul\x00and\ttab\nnl", 256, "nulandtabnl"},
		{"ééé", 3, "é"},
		{strings.Repeat("a", 600), 512, strings.Repeat("a", 512)},
	}
	for _, tt := range tests {
		got := Header(tt.in, tt.max)
		if got != tt.want {
			t.Errorf("Header(%q, %d) = %q, want %q", tt.in, tt.max, got, tt.want)
		}
		if !utf8.ValidString(got) || len(got) > tt.max {
			t.Errorf("Header(%q) = %q: invalid or too long", tt.in, got)
		}
	}
}

func FuzzHeader(f *testing.F) {
	for _, s := range []string{"Mozilla/5.0", "\xff\x00", "ééé", ""} {
		f.Add(s, 8)
	}
	f.Fuzz(func(t *testing.T, s string, max int) {
		if max < 0 || max > 1024 {
			return
		}
		got := Header(s, max)
		if !utf8.ValidString(got) || len(got) > max || strings.IndexByte(got, 0) >= 0 {
			t.Fatalf("Header(%q, %d) = %q", s, max, got)
		}
	})
}

func FuzzParseID(f *testing.F) {
	for _, s := range []string{"0190f5a4-7b6c-7d8e-9f00-112233445566", "urn:uuid:0190f5a4-7b6c-7d8e-9f00-112233445566", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := ParseID(s)
		if !ok {
			return
		}
		again, ok2 := ParseID(got)
		if !ok2 || again != got || len(got) != 36 || strings.ToLower(got) != got {
			t.Fatalf("ParseID(%q) = %q, not canonical", s, got)
		}
	})
}
