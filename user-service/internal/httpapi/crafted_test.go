package httpapi_test

import (
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// cursorOf encodes raw JSON as an opaque page cursor, as a client crafting
// one would.
func cursorOf(raw string) string {
	return url.QueryEscape(base64.RawURLEncoding.EncodeToString([]byte(raw)))
}

// Crafted text in a path, a query or a body is refused with a field error
// or not found, never a 5xx, and ids are used only in canonical form.
func TestCraftedInputNeverAnswers5xx(t *testing.T) {
	f := newFixture(t)
	alice := f.user(t, "alice")
	f.user(t, "alfred")
	f.user(t, "alma")
	tok := f.internal(t, alice)
	tests := []struct {
		name, method, path, body string
		status                   int
		field                    string // the field error expected with a 400 ("" for the body itself)
	}{
		{"urn:uuid id", "GET", "/api/v1/users/urn:uuid:" + alice, "", 404, ""},
		{"braced id", "GET", "/api/v1/users/%7B" + alice + "%7D", "", 404, ""},
		{"32-digit id", "GET", "/api/v1/users/" + strings.ReplaceAll(alice, "-", ""), "", 404, ""},
		{"NUL in an id", "GET", "/api/v1/users/%00", "", 404, ""},
		{"invalid UTF-8 in an id", "GET", "/api/v1/users/%FF%FE", "", 404, ""},
		{"NUL in the query", "GET", "/api/v1/users?query=al%00", "", 400, "query"},
		{"invalid UTF-8 in the query", "GET", "/api/v1/users?query=al%FF", "", 400, "query"},
		{"NUL in the cursor text", "GET", "/api/v1/users?query=al&cursor=%00", "", 400, "cursor"},
		{"cursor whose key decodes to NUL", "GET", "/api/v1/users?query=al&cursor=" + cursorOf(`{"q":"al","k":"\u0000","i":"`+alice+`"}`), "", 400, "cursor"},
		{"cursor whose key is a number", "GET", "/api/v1/users?query=al&cursor=" + cursorOf(`{"q":"al","k":5,"i":"`+alice+`"}`), "", 400, "cursor"},
		{"cursor with a urn:uuid id", "GET", "/api/v1/users?query=al&cursor=" + cursorOf(`{"q":"al","k":"alfred","i":"urn:uuid:`+alice+`"}`), "", 400, "cursor"},
		{"cursor with an upper-case id", "GET", "/api/v1/users?query=al&cursor=" + cursorOf(`{"q":"al","k":"alfred","i":"`+strings.ToUpper(alice)+`"}`), "", 400, "cursor"},
		{"cursor of JSON null", "GET", "/api/v1/users?query=al&cursor=" + cursorOf(`null`), "", 400, "cursor"},
		{"empty cursor", "GET", "/api/v1/users?query=al&cursor=", "", 400, "cursor"},
		{"empty limit", "GET", "/api/v1/users?query=al&limit=", "", 400, "limit"},
		{"limit beyond int64", "GET", "/api/v1/users?query=al&limit=99999999999999999999", "", 400, "limit"},
		{"NUL in a display name", "PATCH", "/api/v1/users/me", `{"displayName":"al\u0000ice"}`, 400, "displayName"},
		{"invalid UTF-8 in a bio", "PATCH", "/api/v1/users/me", "{\"bio\":\"\xff\xfe\"}", 400, ""},
		{"body of JSON null", "PATCH", "/api/v1/users/me", `null`, 400, "body"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := f.do(t, tc.method, tc.path, tc.body, tok)
			if got.status != tc.status {
				t.Fatalf("%s %s = %d %s, want %d", tc.method, tc.path, got.status, got.raw, tc.status)
			}
			if tc.status != http.StatusBadRequest {
				return
			}
			if errs := fieldErrors(got); errs[tc.field] == "" {
				t.Errorf("field errors = %v, want one for %s", errs, tc.field)
			}
		})
	}
}

// fieldErrors returns the field → message map of a problem+json answer.
func fieldErrors(r response) map[string]string {
	out := map[string]string{}
	list, _ := r.body["errors"].([]any)
	for _, e := range list {
		m, _ := e.(map[string]any)
		field, _ := m["field"].(string)
		msg, _ := m["message"].(string)
		out[field] = msg
	}
	return out
}

func TestAnUpperCaseIDAnswersWithTheCanonicalOne(t *testing.T) {
	f := newFixture(t)
	alice := f.user(t, "alice")
	got := f.do(t, "GET", "/api/v1/users/"+strings.ToUpper(alice), "", f.internal(t, alice))
	if got.status != http.StatusOK || got.body["userId"] != alice {
		t.Errorf("GET upper-case id = %d %v, want 200 with userId %s", got.status, got.body, alice)
	}
}

// Without a valid internal token every path answers 401, so no route is
// revealed; with one an unknown path is 404. Nothing ever redirects.
func TestUnknownPathsAnswer401WithoutATokenAndNeverRedirect(t *testing.T) {
	f := newFixture(t)
	alice := f.user(t, "alice")
	paths := []struct{ method, path string }{
		{"GET", "/api/v1/no-such-route"},
		{"GET", "/nowhere"},
		{"GET", "/api/v1/users/me/"},
		{"GET", "/api/v1/users/%2F"},
		{"GET", "/api/v1/users/a%2Fb"},
		{"GET", "/API/V1/USERS/ME"},
		{"GET", "/api/v1//users/me"},
		{"DELETE", "/api/v1/users/me"},
		{"POST", "/healthz"},
	}
	for _, p := range paths {
		anon := f.do(t, p.method, p.path, "", "")
		if anon.status != http.StatusUnauthorized {
			t.Errorf("%s %s without a token = %d %s, want 401", p.method, p.path, anon.status, anon.raw)
		}
		signed := f.do(t, p.method, p.path, "", f.internal(t, alice))
		if signed.status/100 == 3 || signed.status/100 == 5 || signed.status == http.StatusUnauthorized {
			t.Errorf("%s %s with a valid token = %d %s (Location %q), want 404 or 405", p.method, p.path,
				signed.status, signed.raw, signed.header.Get("Location"))
		}
	}
}
