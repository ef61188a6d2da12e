package users

import (
	"errors"
	"strings"
	"testing"
)

func ptr(s string) *string { return &s }

func TestValidateUpdate(t *testing.T) {
	tests := []struct {
		name      string
		in        Update
		wantField string // "" when valid
		want      Update // normalised, when valid
	}{
		{"display name trimmed", Update{DisplayName: ptr("  Alice  ")}, "", Update{DisplayName: ptr("Alice")}},
		{"display name 64 characters", Update{DisplayName: ptr(strings.Repeat("é", 64))}, "", Update{DisplayName: ptr(strings.Repeat("é", 64))}},
		{"display name 65 characters", Update{DisplayName: ptr(strings.Repeat("a", 65))}, "displayName", Update{}},
		{"display name empty", Update{DisplayName: ptr("")}, "displayName", Update{}},
		{"display name only spaces", Update{DisplayName: ptr("   ")}, "displayName", Update{}},
		{"display name with a newline", Update{DisplayName: ptr("Al\nice")}, "displayName", Update{}},
		{"display name with NUL", Update{DisplayName: ptr("Al\x00ice")}, "displayName", Update{}},
		{"display name with a bidi override", Update{DisplayName: ptr("Al\u202eice")}, "displayName", Update{}},
		{"display name with emoji", Update{DisplayName: ptr("Alice 👩‍💻")}, "", Update{DisplayName: ptr("Alice 👩‍💻")}},
		{"bio with line breaks", Update{Bio: ptr("line 1\r\nline 2")}, "", Update{Bio: ptr("line 1\nline 2")}},
		{"bio cleared", Update{Bio: ptr("")}, "", Update{Bio: ptr("")}},
		{"bio 500 characters", Update{Bio: ptr(strings.Repeat("ж", 500))}, "", Update{Bio: ptr(strings.Repeat("ж", 500))}},
		{"bio 501 characters", Update{Bio: ptr(strings.Repeat("ж", 501))}, "bio", Update{}},
		{"bio with a tab", Update{Bio: ptr("a\tb")}, "bio", Update{}},
		{"bio with escape", Update{Bio: ptr("a\x1b[31mb")}, "bio", Update{}},
		{"avatar https", Update{AvatarURL: ptr("https://cdn.example.com/a.png?s=64")}, "", Update{AvatarURL: ptr("https://cdn.example.com/a.png?s=64")}},
		{"avatar cleared", Update{AvatarURL: ptr("")}, "", Update{AvatarURL: ptr("")}},
		{"avatar http", Update{AvatarURL: ptr("http://cdn.example.com/a.png")}, "avatarUrl", Update{}},
		{"avatar javascript", Update{AvatarURL: ptr("javascript:alert(1)")}, "avatarUrl", Update{}},
		{"avatar data", Update{AvatarURL: ptr("data:image/png;base64,AAAA")}, "avatarUrl", Update{}},
		{"avatar relative", Update{AvatarURL: ptr("/a.png")}, "avatarUrl", Update{}},
		{"avatar without host", Update{AvatarURL: ptr("https:///a.png")}, "avatarUrl", Update{}},
		{"avatar with credentials", Update{AvatarURL: ptr("https://u:p@cdn.example.com/a.png")}, "avatarUrl", Update{}},
		{"avatar with a space", Update{AvatarURL: ptr("https://cdn.example.com/a b.png")}, "avatarUrl", Update{}},
		{"avatar 2048 bytes", Update{AvatarURL: ptr("https://x.example/" + strings.Repeat("a", 2048-18))}, "", Update{AvatarURL: ptr("https://x.example/" + strings.Repeat("a", 2048-18))}},
		{"avatar 2049 bytes", Update{AvatarURL: ptr("https://x.example/" + strings.Repeat("a", 2049-18))}, "avatarUrl", Update{}},
		{"nothing", Update{}, "", Update{}},
	}
	for _, tt := range tests {
		got, err := validateUpdate(tt.in)
		if tt.wantField != "" {
			var inv *InvalidError
			if !errors.As(err, &inv) || len(inv.Fields) != 1 || inv.Fields[0].Field != tt.wantField {
				t.Errorf("%s: error = %v, want one field error on %s", tt.name, err, tt.wantField)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: unexpected error %v", tt.name, err)
			continue
		}
		if s(got.DisplayName) != s(tt.want.DisplayName) || s(got.Bio) != s(tt.want.Bio) || s(got.AvatarURL) != s(tt.want.AvatarURL) {
			t.Errorf("%s: got %q/%q/%q, want %q/%q/%q", tt.name, s(got.DisplayName), s(got.Bio), s(got.AvatarURL),
				s(tt.want.DisplayName), s(tt.want.Bio), s(tt.want.AvatarURL))
		}
	}
}

// s shows a *string, telling nil from "".
func s(p *string) string {
	if p == nil {
		return "<nil>"
	}
	return *p
}

func TestValidateUpdateReportsEveryField(t *testing.T) {
	_, err := validateUpdate(Update{DisplayName: ptr(""), Bio: ptr(strings.Repeat("x", 501)), AvatarURL: ptr("ftp://x")})
	var inv *InvalidError
	if !errors.As(err, &inv) || len(inv.Fields) != 3 {
		t.Fatalf("error = %v, want three field errors", err)
	}
}

func TestCursorRoundTripAndTampering(t *testing.T) {
	pos := Position{Key: "alice", UserID: "01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01"}
	c := encodeCursor("al", pos)
	got, err := decodeCursor(c, "al")
	if err != nil || got != pos {
		t.Fatalf("decode(encode) = %+v, %v; want %+v", got, err, pos)
	}
	bad := []struct {
		name, cursor, prefix string
	}{
		{"other query", c, "bo"},
		{"not base64", "!!!", "al"},
		{"not json", "bm90IGpzb24", "al"},
		{"bad user id", encodeCursor("al", Position{Key: "a", UserID: "x"}), "al"},
		{"too long", strings.Repeat("a", 2000), "al"},
	}
	for _, b := range bad {
		if _, err := decodeCursor(b.cursor, b.prefix); err == nil {
			t.Errorf("%s: decoded without error", b.name)
		}
	}
}

func TestValidUserID(t *testing.T) {
	tests := map[string]bool{
		"01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01": true,
		"01970F3A-6A2B-7C3D-8E4F-5A6B7C8D9E01": false, // the adapters canonicalize first
		"anonymous":                            false,
		"":                                     false,
		"01970f3a6a2b7c3d8e4f5a6b7c8d9e01":     false,
		"urn:uuid:01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01": false,
		"{01970f3a-6a2b-7c3d-8e4f-5a6b7c8d9e01}":        false,
	}
	for id, want := range tests {
		if got := validUserID(id); got != want {
			t.Errorf("validUserID(%q) = %v, want %v", id, got, want)
		}
	}
}
