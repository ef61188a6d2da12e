// Package flow holds end-to-end tests that run real stacks (every service
// binary against real PostgreSQL, RabbitMQ and Elasticsearch) without
// disturbing the shared infrastructure; they run in parallel with other
// packages' tests.
package flow

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/parleychat/parley/e2e/harness"
)

func TestCookiesAndSession(t *testing.T) {
	s := harness.Start(t, harness.Options{})
	c := harness.NewClient(t, s.Gateway())

	// A cookie planted before login is replaced by the real one.
	c.Jar.SetCookies(mustURL(t, s.Gateway()), []*http.Cookie{{Name: "parley_session", Value: "planted", Path: "/"}})
	c.SignUp()
	r := c.Do(http.MethodPost, "/api/v1/auth/login", map[string]string{"login": c.Login, "password": c.Pass}).Expect(t, 200, "login")
	if strings.Contains(string(r.Body), "accessToken") || strings.Contains(string(r.Body), "refreshToken") {
		t.Fatalf("login body leaks tokens: %s", r.Body)
	}
	cookies := map[string]string{}
	for _, sc := range r.Header.Values("Set-Cookie") {
		name, _, _ := strings.Cut(sc, "=")
		cookies[name] = sc
	}
	for _, name := range []string{"parley_session", "parley_refresh"} {
		sc, ok := cookies[name]
		if !ok {
			t.Fatalf("login set no %s cookie; got %v", name, r.Header.Values("Set-Cookie"))
		}
		for _, attr := range []string{"HttpOnly", "SameSite=Lax"} {
			if !strings.Contains(sc, attr) {
				t.Errorf("%s cookie %q lacks %s", name, sc, attr)
			}
		}
	}
	for _, ck := range c.Jar.Cookies(mustURL(t, s.Gateway())) {
		if ck.Name == "parley_session" && ck.Value == "planted" {
			t.Fatalf("planted session cookie survived login")
		}
	}
	me := c.Do(http.MethodGet, "/api/v1/auth/me", nil).Expect(t, 200, "me").Map(t)
	if me["id"] != c.UserID && me["user"] == nil {
		t.Fatalf("me = %v, want user %s", me, c.UserID)
	}

	// Client-supplied identity headers are ignored.
	other := harness.NewClient(t, s.Gateway()).SignUp()
	req, _ := http.NewRequest(http.MethodGet, s.Gateway()+"/api/v1/auth/me", nil)
	req.Header.Set("X-User-Id", other.UserID)
	req.Header.Set("X-Parley-User", other.UserID)
	resp, err := c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("me with spoofed headers: status %d", resp.StatusCode)
	}
	if got := c.Do(http.MethodGet, "/api/v1/users/me", nil); got.Status == 200 && strings.Contains(string(got.Body), other.UserID) {
		t.Fatalf("spoofed identity header was honoured: %s", got.Body)
	}

	// Cross-site POST carrying the cookie is refused.
	req, _ = http.NewRequest(http.MethodPost, s.Gateway()+"/api/v1/auth/logout", nil)
	req.Header.Set("Origin", "https://evil.example")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err = c.HTTP.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST: status %d, want 403", resp.StatusCode)
	}
	c.Do(http.MethodGet, "/api/v1/auth/me", nil).Expect(t, 200, "session still valid after refused cross-site logout")
}

func TestRevocationReachesEveryGateway(t *testing.T) {
	s := harness.Start(t, harness.Options{Gateways: 2})
	cases := []struct {
		name   string
		revoke func(t *testing.T, c *harness.Client)
	}{
		{"logout", func(t *testing.T, c *harness.Client) {
			c.Do(http.MethodPost, "/api/v1/auth/logout", nil).Expect(t, 204, "logout")
		}},
		{"password change", func(t *testing.T, c *harness.Client) {
			r := c.Do(http.MethodPut, "/api/v1/auth/password", map[string]string{"currentPassword": c.Pass, "newPassword": c.Pass + " v2"})
			if r.Status != 204 && r.Status != 200 {
				t.Fatalf("password change: %d %s", r.Status, r.Body)
			}
		}},
		{"session revoke", func(t *testing.T, c *harness.Client) {
			// Revoke the session from a second device of the same user.
			d := harness.NewClient(t, s.Gateway())
			d.Do(http.MethodPost, "/api/v1/auth/login", map[string]string{"login": c.Login, "password": c.Pass}).Expect(t, 200, "second login")
			var list struct {
				Sessions []struct {
					ID      string `json:"id"`
					Current bool   `json:"current"`
				} `json:"sessions"`
			}
			d.Do(http.MethodGet, "/api/v1/auth/sessions", nil).Expect(t, 200, "sessions").JSON(t, &list)
			revoked := 0
			for _, ss := range list.Sessions {
				if !ss.Current {
					d.Do(http.MethodDelete, "/api/v1/auth/sessions/"+ss.ID, nil).Expect(t, 204, "revoke session")
					revoked++
				}
			}
			if revoked != 1 {
				t.Fatalf("sessions listed %+v, want exactly one other session", list.Sessions)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := harness.NewClient(t, s.Gateways[0].URL()).SignUp()
			c2 := c.WithBase(s.Gateways[1].URL())
			c2.Do(http.MethodGet, "/api/v1/auth/me", nil).Expect(t, 200, "me on gateway 2 before revocation")
			// Keep the old session cookie to replay after the revocation.
			stale := c.WithBase(s.Gateways[0].URL())
			tc.revoke(t, c)
			for _, g := range s.Gateways {
				replay := stale.WithBase(g.URL())
				harness.Eventually(t, 5*time.Second, "old session refused at "+g.Name, func() error {
					if r := replay.Do(http.MethodGet, "/api/v1/auth/me", nil); r.Status != 401 {
						return harness.Errorf("status %d", r.Status)
					}
					return nil
				})
			}
		})
	}
}

func TestRefreshRotationAndReuse(t *testing.T) {
	s := harness.Start(t, harness.Options{Env: map[string][]string{"auth-service": {"REFRESH_REUSE_GRACE=2s"}}})
	c := harness.NewClient(t, s.Gateway()).SignUp()
	old := c.WithBase(s.Gateway()) // holds the first refresh token

	// Two tabs refreshing at once both succeed (grace).
	tab2 := c.WithBase(s.Gateway())
	c.Do(http.MethodPost, "/api/v1/auth/refresh", nil).Expect(t, 200, "refresh tab 1")
	tab2.Do(http.MethodPost, "/api/v1/auth/refresh", nil).Expect(t, 200, "refresh tab 2 within grace")
	c.Do(http.MethodGet, "/api/v1/auth/me", nil).Expect(t, 200, "me after refresh")

	// Reusing the first refresh token after the grace revokes the family.
	time.Sleep(2500 * time.Millisecond)
	old.Do(http.MethodPost, "/api/v1/auth/refresh", nil).Expect(t, 401, "reused refresh token")
	c.Do(http.MethodPost, "/api/v1/auth/refresh", nil).Expect(t, 401, "successor of a reused token after family revocation")
	harness.Eventually(t, 5*time.Second, "session of a revoked family refused", func() error {
		if r := c.Do(http.MethodGet, "/api/v1/auth/me", nil); r.Status != 401 {
			return harness.Errorf("status %d", r.Status)
		}
		return nil
	})
}
