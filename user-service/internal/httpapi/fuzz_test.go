package httpapi_test

import (
	"net/http"
	"net/url"
	"testing"
)

// FuzzRequests sends arbitrary path ids, search parameters and profile
// bodies through the real router and database: whatever a client crafts,
// the answer is never a 5xx and never a redirect.
func FuzzRequests(f *testing.F) {
	fx := newFixture(f)
	alice := fx.user(f, "alice")
	tok := fx.internal(f, alice)
	f.Add(alice, "al", "", "20", []byte(`{"displayName":"Alice","bio":"hi"}`))
	f.Add("urn:uuid:"+alice, "al\x00", "%00", "0", []byte(`{"displayName":"al\u0000ice"}`))
	f.Add("{"+alice+"}", "\xff", "eyJxIjoiYWwiLCJrIjoiXHUwMDAwIiwiaSI6IjAxIn0", "99999999999999999999", []byte("{\"bio\":\"\xff\"}"))
	f.Add("%2F", "", "bnVsbA", "-1", []byte(`{"avatarUrl":"javascript:alert(1)","x":1}`))
	f.Fuzz(func(t *testing.T, id, query, cursor, limit string, body []byte) {
		q := url.Values{"query": {query}, "cursor": {cursor}, "limit": {limit}}.Encode()
		for _, r := range []struct{ method, path, body string }{
			{"GET", "/api/v1/users/" + url.PathEscape(id), ""},
			{"GET", "/api/v1/users?" + q, ""},
			{"PATCH", "/api/v1/users/me", string(body)},
		} {
			got := fx.do(t, r.method, r.path, r.body, tok)
			if got.status >= http.StatusInternalServerError || (got.status >= 300 && got.status < 400) {
				t.Errorf("%s %s %q = %d %s", r.method, r.path, r.body, got.status, got.raw)
			}
		}
	})
}
