package httpapi_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/zerolog"

	"github.com/parleychat/parley/gateway/api"
	"github.com/parleychat/parley/gateway/internal/httpapi"
	"github.com/parleychat/parley/gateway/internal/proxy"
	"github.com/parleychat/parley/gateway/internal/revocation"
	"github.com/parleychat/parley/gateway/internal/session"
	"github.com/parleychat/parley/shared/httpserver"
	"github.com/parleychat/parley/shared/token"
)

func TestMain(m *testing.M) {
	gin.SetMode(gin.ReleaseMode)
	os.Exit(m.Run())
}

// seen is what a fake service observed about one request.
type seen struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   string
	Claims                 *token.Claims
}

// upstream is a fake service behind the gateway. It checks the internal
// token exactly as a real service does (token.RequireInternal with its own
// audience) and then runs handle, which tests swap per case.
type upstream struct {
	t   testing.TB
	srv *httptest.Server

	mu     sync.Mutex
	handle func(c *gin.Context)
	log    []seen
	// connections counts the connections the service accepted.
	connections atomic.Int64
}

func newUpstream(t testing.TB, audience string, internalKeys *token.KeySet) *upstream {
	t.Helper()
	v, err := token.NewVerifier(internalKeys, token.IssuerGateway, audience)
	if err != nil {
		t.Fatal(err)
	}
	u := &upstream{t: t}
	r := gin.New()
	r.Use(token.RequireInternal(v), func(c *gin.Context) {
		body, _ := io.ReadAll(c.Request.Body)
		c.Request.Body = io.NopCloser(bytes.NewReader(body)) // for handle
		claims, _ := token.FromContext(c.Request.Context())
		u.mu.Lock()
		u.log = append(u.log, seen{
			Method: c.Request.Method, Path: c.Request.URL.Path, RawQuery: c.Request.URL.RawQuery,
			Header: c.Request.Header.Clone(), Body: string(body), Claims: claims,
		})
		h := u.handle
		u.mu.Unlock()
		if h == nil {
			c.JSON(http.StatusOK, gin.H{"ok": true, "sub": claims.Subject})
			return
		}
		h(c)
	})
	u.srv = httptest.NewUnstartedServer(r)
	u.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			u.connections.Add(1)
		}
	}
	u.srv.Start()
	t.Cleanup(u.srv.Close)
	return u
}

// setHandler replaces what the fake service answers.
func (u *upstream) setHandler(h func(c *gin.Context)) {
	u.mu.Lock()
	u.handle = h
	u.mu.Unlock()
}

// requests returns what the service has seen so far.
func (u *upstream) requests() []seen {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]seen(nil), u.log...)
}

// last returns the last request the service saw, failing if there was none.
func (u *upstream) last() seen {
	u.t.Helper()
	r := u.requests()
	if len(r) == 0 {
		u.t.Fatal("the service saw no request")
	}
	return r[len(r)-1]
}

// env is a gateway wired to fake services, with real keys.
type env struct {
	t            testing.TB
	authSigner   *token.Signer // plays auth-service: mints session tokens
	authPriv     ed25519.PrivateKey
	revocations  *revocation.Store
	auth         *upstream
	users, chat  *upstream
	gw           *httptest.Server
	router       http.Handler
	authenticate *session.Authenticator
	minter       *session.Minter
}

type envOptions struct {
	secure         bool
	timeout        time.Duration
	chatURL        string // overrides the chat upstream (e.g. a dead port)
	notLoaded      bool   // leave the revocation snapshot unloaded
	maxHeaderSize  int
	realtime       http.Handler // served at /socket.io/
	trustedProxies []string
	refreshed      func(session.Identity)
	usersURLs      []string             // overrides the user-service instances
	edge           httpapi.Edge         // route-class timeouts and rate limits
	breaker        proxy.Breaker        // zero: proxy.DefaultBreaker
	retry          *proxy.RetryBudget   // nil: proxy.DefaultRetryBudget
	log            io.Writer            // request log; nil: none
	metrics        *prometheus.Registry // receives the router\'s and proxy\'s metrics
}

func newEnv(t testing.TB, o envOptions) *env {
	t.Helper()
	if o.timeout == 0 {
		o.timeout = 5 * time.Second
	}
	e := &env{t: t}
	_, authPriv, _ := ed25519.GenerateKey(nil)
	_, gwPriv, _ := ed25519.GenerateKey(nil)
	e.authPriv = authPriv
	var err error
	if e.authSigner, err = token.NewSigner(authPriv, token.IssuerAuth); err != nil {
		t.Fatal(err)
	}
	gwSigner, err := token.NewSigner(gwPriv, token.IssuerGateway)
	if err != nil {
		t.Fatal(err)
	}
	sessionKeys, _ := token.NewKeySet(authPriv.Public().(ed25519.PublicKey))
	internalKeys, _ := token.NewKeySet(gwPriv.Public().(ed25519.PublicKey))
	sessionVerifier, err := token.NewVerifier(sessionKeys, token.IssuerAuth, token.AudienceGateway)
	if err != nil {
		t.Fatal(err)
	}

	e.auth = newUpstream(t, token.AudienceAuth, internalKeys)
	e.auth.setHandler(e.fakeAuth)
	e.users = newUpstream(t, token.AudienceUsers, internalKeys)
	e.chat = newUpstream(t, token.AudienceChat, internalKeys)

	e.revocations = revocation.NewStore(nil)
	if !o.notLoaded {
		e.revocations.MarkLoaded()
	}
	e.authenticate = session.NewAuthenticator(sessionVerifier, e.revocations)
	e.minter = session.NewMinter(gwSigner)
	chatURL := e.chat.srv.URL
	if o.chatURL != "" {
		chatURL = o.chatURL
	}
	usersURLs := []string{e.users.srv.URL}
	if o.usersURLs != nil {
		usersURLs = o.usersURLs
	}
	retry := proxy.DefaultRetryBudget
	if o.retry != nil {
		retry = *o.retry
	}
	targets := httpapi.Targets{
		Auth:  mustTarget(t, token.AudienceAuth, o.breaker, e.auth.srv.URL),
		Users: mustTarget(t, token.AudienceUsers, o.breaker, usersURLs...),
		Chat:  mustTarget(t, token.AudienceChat, o.breaker, chatURL),
	}
	px := proxy.New(e.minter, o.timeout, retry)
	var reg prometheus.Registerer // nil: no metrics, as before
	if o.metrics != nil {
		reg = o.metrics
		if err := px.RegisterMetrics(o.metrics, targets.Auth, targets.Users, targets.Chat); err != nil {
			t.Fatal(err)
		}
	}
	logger := zerolog.Nop()
	if o.log != nil {
		logger = zerolog.New(o.log)
	}
	router, err := httpapi.NewRouter(httpapi.Deps{
		Log:            logger,
		Auth:           e.authenticate,
		Revocations:    e.revocations,
		Proxy:          px,
		Edge:           o.edge,
		Metrics:        reg,
		Targets:        targets,
		Cookies:        httpapi.Cookies{Secure: o.secure},
		AllowedOrigins: []string{"https://app.parley.test"},
		MaxBodyBytes:   1 << 20,
		Health:         &httpserver.Health{Service: "gateway", Version: "test"},
		OpenAPI:        api.OpenAPI,
		Realtime:       o.realtime,
		TrustedProxies: o.trustedProxies,

		SessionRefreshed: o.refreshed,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.router = router
	e.gw = httptest.NewUnstartedServer(router)
	// Same header bound as shared/httpserver.Run, the server in production.
	e.gw.Config.MaxHeaderBytes = 64 << 10
	if o.maxHeaderSize > 0 {
		e.gw.Config.MaxHeaderBytes = o.maxHeaderSize
	}
	e.gw.Start()
	t.Cleanup(e.gw.Close)
	return e
}

func mustTarget(t testing.TB, aud string, b proxy.Breaker, bases ...string) proxy.Target {
	t.Helper()
	tg, err := proxy.NewTarget(aud, bases, b)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// fakeAuth answers like auth-service's token routes: signup and login mint
// a real session token; refresh accepts only the refresh token it issued.
func (e *env) fakeAuth(c *gin.Context) {
	switch c.Request.URL.Path {
	case "/api/v1/auth/signup", "/api/v1/auth/login":
		status := http.StatusOK
		if strings.HasSuffix(c.Request.URL.Path, "signup") {
			status = http.StatusCreated
		}
		c.JSON(status, e.tokenAnswer(uuid.NewString(), uuid.NewString()))
	case "/api/v1/auth/refresh":
		var in struct{ RefreshToken string }
		body, _ := io.ReadAll(c.Request.Body)
		_ = json.Unmarshal(body, &in)
		parts := strings.SplitN(in.RefreshToken, ":", 3) // rt-<n>:<user>:<sid>
		if !strings.HasPrefix(in.RefreshToken, "rt-") || len(parts) != 3 || parts[2] == "" {
			c.Data(http.StatusUnauthorized, "application/problem+json",
				[]byte(`{"type":"x","title":"Unauthorized","status":401,"code":"invalid_refresh_token"}`))
			return
		}
		c.JSON(http.StatusOK, e.tokenAnswer(parts[1], parts[2]))
	case "/api/v1/auth/logout", "/api/v1/auth/password":
		c.Status(http.StatusNoContent)
	default:
		claims, _ := token.FromContext(c.Request.Context())
		c.JSON(http.StatusOK, gin.H{"id": claims.Subject, "sid": claims.SessionID})
	}
}

// acceptDeletes makes the fake auth-service answer every DELETE (a session
// revoke) with 204, whatever it names, like a lenient service would.
func (e *env) acceptDeletes() {
	e.auth.setHandler(func(c *gin.Context) {
		if c.Request.Method == "DELETE" {
			c.Status(http.StatusNoContent)
			return
		}
		e.fakeAuth(c)
	})
}

// tokenAnswer is auth-service's answer shape with real tokens.
func (e *env) tokenAnswer(userID, sid string) gin.H {
	access := e.sessionToken(userID, sid)
	return gin.H{
		"user":    gin.H{"id": userID, "username": "alice", "email": "alice@example.com", "createdAt": time.Now().UTC()},
		"session": gin.H{"id": sid, "expiresAt": time.Now().Add(720 * time.Hour).UTC()},
		"tokens": gin.H{
			"accessToken":      access,
			"accessExpiresAt":  time.Now().Add(token.SessionTTL).UTC(),
			"refreshToken":     "rt-" + uuid.NewString() + ":" + userID + ":" + sid,
			"refreshExpiresAt": time.Now().Add(720 * time.Hour).UTC(),
		},
	}
}

// sessionToken mints a genuine session token as auth-service would. It
// runs inside the fake service's handlers too, where the test's t must not
// be used; minting fails only for an empty session id, which no caller
// passes.
func (e *env) sessionToken(userID, sid string) string {
	raw, _ := e.authSigner.Session(userID, sid, token.SessionTTL)
	return raw
}

// client returns an HTTP client with its own cookie jar.
func (e *env) client() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, Timeout: 30 * time.Second}
}

// do sends a request to the gateway with optional session cookie and headers.
func (e *env) do(c *http.Client, method, path, body string, hdr map[string]string) *http.Response {
	e.t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.gw.URL+path, rd)
	if err != nil {
		e.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if c == nil {
		c = e.client()
	}
	resp, err := c.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, path, err)
	}
	return resp
}

// login signs in through the gateway and returns a client holding the
// cookies and the session token the gateway set.
func (e *env) login(c *http.Client) (*http.Client, string) {
	e.t.Helper()
	if c == nil {
		c = e.client()
	}
	resp := e.do(c, "POST", "/api/v1/auth/login", `{"login":"alice","password":"correct horse"}`, nil)
	readAll(e.t, resp)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("login: status %d", resp.StatusCode)
	}
	u, _ := url.Parse(e.gw.URL + "/")
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == httpapi.SessionCookie {
			return c, ck.Value
		}
	}
	e.t.Fatal("login set no session cookie")
	return nil, ""
}

func readAll(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return string(b)
}

// problemOf decodes a problem+json answer, failing on any other type.
func problemOf(t testing.TB, resp *http.Response) map[string]any {
	t.Helper()
	body := readAll(t, resp)
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/problem+json") {
		t.Fatalf("Content-Type = %q, want application/problem+json (body %s)", ct, body)
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(body), &p); err != nil {
		t.Fatalf("problem body %q: %v", body, err)
	}
	return p
}
