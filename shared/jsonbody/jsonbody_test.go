package jsonbody

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/parleychat/parley/shared/problem"
)

type testBody struct {
	Name  string   `json:"name"`
	Count int      `json:"count"`
	Tags  []string `json:"tags"`
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		ctype      string
		wantStatus int // 0 = success
		wantField  string
	}{
		{"ok", `{"name":"a","count":2}`, "application/json", 0, ""},
		{"ok with charset", `{"name":"a"}`, "application/json; charset=utf-8", 0, ""},
		{"unknown field", `{"name":"a","admin":true}`, "application/json", 400, "admin"},
		{"wrong type", `{"count":"two"}`, "application/json", 400, "count"},
		{"wrong array type", `{"tags":"x"}`, "application/json", 400, "tags"},
		{"syntax", `{"name":`, "application/json", 400, ""},
		{"empty", ``, "application/json", 400, ""},
		{"two values", `{} {}`, "application/json", 400, ""},
		{"form content type", `name=a`, "application/x-www-form-urlencoded", 415, ""},
		{"NUL in a string", `{"name":"a\u0000b"}`, "application/json", 400, "name"},
		{"NUL in an array item", `{"tags":["ok","\u0000"]}`, "application/json", 400, "tags[1]"},
		{"invalid UTF-8", "{\"name\":\"a\xffb\"}", "application/json", 400, ""},
		{"too large", `{"name":"` + strings.Repeat("a", 2000) + `"}`, "application/json", 413, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(tt.body))
			r.Header.Set("Content-Type", tt.ctype)
			var dst testBody
			err := Decode(httptest.NewRecorder(), r, &dst, 1024)
			if tt.wantStatus == 0 {
				if err != nil {
					t.Fatalf("Decode() = %v, want nil", err)
				}
				return
			}
			var p *problem.Problem
			if !errors.As(err, &p) {
				t.Fatalf("Decode() = %v, want a *problem.Problem", err)
			}
			if p.Status != tt.wantStatus {
				t.Fatalf("status = %d, want %d (%v)", p.Status, tt.wantStatus, err)
			}
			if tt.wantField != "" && (len(p.Errors) == 0 || p.Errors[0].Field != tt.wantField) {
				t.Fatalf("field errors = %+v, want field %q", p.Errors, tt.wantField)
			}
		})
	}
}

// FuzzUnmarshal holds the decoder's contract for any testBody: it either fails
// with a 4xx problem or yields strings that PostgreSQL can store.
func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`{"name":"a","count":1,"tags":["x"]}`, `{"name":"\u0000"}`, "{\"name\":\"\xff\"}", `[]`, `{"count":1e400}`, ``} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var dst testBody
		err := Unmarshal(raw, &dst)
		if err != nil {
			var p *problem.Problem
			if !errors.As(err, &p) || p.Status >= 500 {
				t.Fatalf("Unmarshal(%q) = %v, want a 4xx problem", raw, err)
			}
			return
		}
		for _, s := range append([]string{dst.Name}, dst.Tags...) {
			if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
				t.Fatalf("Unmarshal(%q) accepted %q", raw, s)
			}
		}
	})
}
