package httpapi_test

import (
	"net/http"
	"testing"

	"github.com/parleychat/parley/chat-service/internal/chat"
)

// TestEveryPathNeedsATokenAndNothingRedirects checks that a caller without
// a valid token learns nothing about which routes exist (401 whatever the
// path or method), and that no path is ever redirected, with or without a
// token (trailing slash, case, doubled or encoded slashes).
func TestEveryPathNeedsATokenAndNothingRedirects(t *testing.T) {
	t.Parallel()
	f := newFixture(t, chat.DefaultConfig)
	tok := f.tokenFor(t, f.user(t))
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	cases := []struct {
		method, path string
		// withToken is the status a valid token gets.
		withToken int
	}{
		{"GET", "/", 404},
		{"GET", "/no-such-route", 404},
		{"GET", "/api/v1/conversations", 200},
		{"GET", "/api/v1/conversations/", 404},
		{"GET", "/API/V1/CONVERSATIONS", 404},
		{"GET", "/api/v1//conversations", 404},
		{"GET", "/api/v1/conversations%2F", 404},
		{"GET", "/api/v1/conversations%2Fx%2Fmessages", 404},
		{"GET", "/api/v1/./conversations", 404},
		{"DELETE", "/api/v1/conversations", 405},
		{"PUT", "/api/v1/messages/search", 405},
		{"POST", "/socket.io", 404},
	}
	for _, tc := range cases {
		for _, auth := range []string{"", "Bearer x.y.z", "Bearer " + tok} {
			req, err := http.NewRequest(tc.method, f.srv.URL+tc.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			res, err := noFollow.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			want := http.StatusUnauthorized
			if auth == "Bearer "+tok {
				want = tc.withToken
			}
			if res.StatusCode != want {
				t.Errorf("%s %s (auth %.12q) = %d (Location %q), want %d", tc.method, tc.path, auth, res.StatusCode, res.Header.Get("Location"), want)
			}
		}
	}
}
