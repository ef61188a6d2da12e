package httpapi_test

import (
	"encoding/base64"
	"net/url"
	"strings"
	"testing"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// TestCraftedInputNeverGives5xx sends ids, query parameters, cursors and
// bodies an attacker would try (NUL, invalid UTF-8, non-canonical ids,
// out-of-range numbers and times) to every kind of route: each must get the
// 4xx it deserves, never reach PostgreSQL as something it refuses.
func TestCraftedInputNeverGives5xx(t *testing.T) {
	t.Parallel()
	f := newFixture(t, chat.DefaultConfig)
	alice, bob := f.user(t), f.user(t)
	at := f.tokenFor(t, alice)
	r := f.do(t, at, "POST", "/api/v1/conversations", map[string]any{"kind": "group", "title": "g", "members": []string{bob}})
	want(t, r, 201, "")
	conv := r.body["id"].(string)
	r = f.do(t, at, "POST", "/api/v1/conversations/"+conv+"/messages", map[string]any{"clientMsgId": "m", "body": "hi"})
	want(t, r, 201, "")
	msg := r.body["id"].(string)
	base := "/api/v1/conversations/"
	cursor := func(s string) string { return url.QueryEscape(base64.RawURLEncoding.EncodeToString([]byte(s))) }

	cases := []struct {
		name, method, path string
		body               any
		status             int
	}{
		{"urn:uuid id", "GET", base + "urn:uuid:" + conv, nil, 404},
		{"braced id", "GET", base + "%7B" + conv + "%7D", nil, 404},
		{"32-digit id", "GET", base + strings.ReplaceAll(conv, "-", ""), nil, 404},
		{"upper-case id is the same id", "GET", base + strings.ToUpper(conv), nil, 200},
		{"NUL in id", "GET", base + conv[:35] + "%00", nil, 404},
		{"invalid UTF-8 in id", "GET", base + "%FF%FE", nil, 404},
		{"urn:uuid message id", "PATCH", base + conv + "/messages/urn:uuid:" + msg, map[string]any{"body": "x"}, 404},
		{"urn:uuid member id", "DELETE", base + conv + "/members/urn:uuid:" + bob, nil, 404},
		{"NUL emoji", "PUT", base + conv + "/messages/" + msg + "/reactions/%00", nil, 400},
		{"invalid UTF-8 emoji", "PUT", base + conv + "/messages/" + msg + "/reactions/%F0%9F", nil, 400},
		{"NUL cursor", "GET", "/api/v1/conversations?cursor=" + cursor("\x00"), nil, 400},
		{"cursor time past year 9999", "GET", "/api/v1/conversations?cursor=" + cursor("9223372036854775807,"+conv), nil, 400},
		{"cursor time before 1970", "GET", "/api/v1/conversations?cursor=" + cursor("-62135596800000001,"+conv), nil, 400},
		{"cursor with urn id", "GET", "/api/v1/conversations?cursor=" + cursor("1,urn:uuid:"+conv), nil, 400},
		{"cursor not base64", "GET", "/api/v1/conversations?cursor=%00%FF", nil, 400},
		{"huge limit", "GET", "/api/v1/conversations?limit=99999999999999999999", nil, 400},
		{"empty limit", "GET", "/api/v1/conversations?limit=", nil, 400},
		{"empty cursor", "GET", "/api/v1/conversations?cursor=", nil, 400},
		{"empty before", "GET", "/api/v1/conversations/" + conv + "/messages?before=", nil, 400},
		{"float limit", "GET", "/api/v1/conversations?limit=1.0", nil, 400},
		{"negative before", "GET", base + conv + "/messages?before=-1", nil, 400},
		{"max after", "GET", base + conv + "/messages?after=9223372036854775807", nil, 200},
		{"overflowing after", "GET", base + conv + "/messages?after=9223372036854775808", nil, 400},
		{"NUL in search", "GET", "/api/v1/messages/search?q=a%00b", nil, 400},
		{"invalid UTF-8 in search", "GET", "/api/v1/messages/search?q=%FF", nil, 400},
		{"urn search cursor", "GET", "/api/v1/messages/search?q=a&cursor=urn:uuid:" + msg, nil, 400},
		{"NUL in body", "POST", base + conv + "/messages", []byte(`{"clientMsgId":"n","body":"a\u0000b"}`), 400},
		{"invalid UTF-8 in body", "POST", base + conv + "/messages", []byte("{\"clientMsgId\":\"u\",\"body\":\"a\xffb\"}"), 400},
		{"NUL in title", "PATCH", base + conv, []byte(`{"title":"\u0000"}`), 400},
		{"NUL in member id", "POST", base + conv + "/members", []byte(`{"userIds":["\u0000"]}`), 400},
		// JSON Schema's integers include 2284.0: the public document's
		// "integer" must mean what validators and generators take it to.
		{"integral float read seq", "POST", base + conv + "/read", []byte(`{"seq":2284.0}`), 200},
		{"fractional read seq", "POST", base + conv + "/read", []byte(`{"seq":2284.5}`), 400},
		{"quoted read seq", "POST", base + conv + "/read", []byte(`{"seq":"5"}`), 400},
		{"huge read seq", "POST", base + conv + "/read", []byte(`{"seq":1e30}`), 400},
		{"negative read seq", "POST", base + conv + "/read", []byte(`{"seq":-1}`), 400},
		{"max read seq is clamped", "POST", base + conv + "/read", []byte(`{"seq":9223372036854775807}`), 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := f.do(t, at, tc.method, tc.path, tc.body)
			if r.status >= 500 || r.status != tc.status {
				t.Fatalf("%s %s = %d %v, want %d", tc.method, tc.path, r.status, r.body, tc.status)
			}
		})
	}
}
