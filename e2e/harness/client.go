package harness

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strconv"
	"testing"
	"time"

	"github.com/google/uuid"
)

// Client is one user's browser-like HTTP client against a gateway: it keeps
// cookies and sends the gateway's own Origin on state-changing requests.
type Client struct {
	t      testing.TB
	Base   string
	HTTP   *http.Client
	Jar    *cookiejar.Jar
	UserID string
	Login  string
	Pass   string
}

// NewClient returns a client for the gateway at base.
func NewClient(t testing.TB, base string) *Client {
	jar, _ := cookiejar.New(nil)
	return &Client{t: t, Base: base, Jar: jar, HTTP: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

// WithBase returns a client sharing this one's cookies but talking to
// another gateway instance (cookies are copied, as a browser would send them).
func (c *Client) WithBase(base string) *Client {
	n := NewClient(c.t, base)
	to, _ := url.Parse(base)
	// The jar hides cookie paths, so copy per path: the session cookie lives
	// at / and the refresh cookie at /api/v1/auth.
	root, _ := url.Parse(c.Base + "/")
	auth, _ := url.Parse(c.Base + "/api/v1/auth/")
	atRoot := map[string]bool{}
	for _, ck := range c.Jar.Cookies(root) {
		atRoot[ck.Name] = true
		n.Jar.SetCookies(to, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/"}})
	}
	for _, ck := range c.Jar.Cookies(auth) {
		if !atRoot[ck.Name] {
			n.Jar.SetCookies(to, []*http.Cookie{{Name: ck.Name, Value: ck.Value, Path: "/api/v1/auth"}})
		}
	}
	n.UserID, n.Login, n.Pass = c.UserID, c.Login, c.Pass
	return n
}

// Response is a decoded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test on error.
func (r *Response) JSON(t testing.TB, v any) {
	t.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		t.Fatalf("decode %s: %v", r.Body, err)
	}
}

// Map decodes the body into a generic map.
func (r *Response) Map(t testing.TB) map[string]any {
	t.Helper()
	var m map[string]any
	r.JSON(t, &m)
	return m
}

// Do sends a request with an optional JSON body.
func (c *Client) Do(method, path string, body any) *Response {
	c.t.Helper()
	resp, err := c.DoErr(method, path, body)
	if err != nil {
		c.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// DoRetrying is Do as a client following the documented rules does it: a
// 503 with Retry-After (the service refusing work it cannot start soon) is
// retried after the hint, at most five times.
func (c *Client) DoRetrying(method, path string, body any) *Response {
	c.t.Helper()
	for attempt := 0; ; attempt++ {
		resp := c.Do(method, path, body)
		secs, err := strconv.Atoi(resp.Header.Get("Retry-After"))
		if resp.Status != http.StatusServiceUnavailable || err != nil || secs < 1 || attempt == 5 {
			return resp
		}
		time.Sleep(time.Duration(secs) * time.Second)
	}
}

// DoErr is Do returning transport errors instead of failing.
func (c *Client) DoErr(method, path string, body any) (*Response, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.Base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if method != http.MethodGet && method != http.MethodHead {
		req.Header.Set("Origin", c.Base)
	}
	resp, err := c.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// Expect fails the test unless the response has the wanted status.
func (r *Response) Expect(t testing.TB, want int, what string) *Response {
	t.Helper()
	if r.Status != want {
		t.Fatalf("%s: status = %d, want %d; body %s", what, r.Status, want, r.Body)
	}
	return r
}

// SignUp registers a fresh random user and keeps its cookies.
func (c *Client) SignUp() *Client {
	c.t.Helper()
	name := "u" + uuid.NewString()[:8]
	c.Login, c.Pass = name, "correct horse battery "+name
	r := c.Do(http.MethodPost, "/api/v1/auth/signup", map[string]string{
		"username": name, "email": name + "@example.com", "password": c.Pass,
	}).Expect(c.t, http.StatusCreated, "signup")
	var out struct {
		User struct {
			ID string `json:"id"`
		} `json:"user"`
	}
	r.JSON(c.t, &out)
	if out.User.ID == "" {
		c.t.Fatalf("signup answered no user id: %s", r.Body)
	}
	c.UserID = out.User.ID
	return c
}

// Eventually retries check until it returns nil or d passes.
func Eventually(t testing.TB, d time.Duration, what string, check func() error) {
	t.Helper()
	deadline := time.Now().Add(d)
	var err error
	for {
		if err = check(); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true within %s: %v", what, d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// Errorf is fmt.Errorf, for Eventually callbacks.
var Errorf = fmt.Errorf
