// Package config loads and validates the gateway's configuration from the
// environment, once, at start-up.
package config

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/parleychat/parley/shared/envconfig"
)

// Config is everything the gateway reads from its environment.
type Config struct {
	// HTTPAddr is the public listen address; the gateway is the one
	// component meant to be reachable from outside.
	HTTPAddr string `env:"HTTP_ADDR" envDefault:":8080"`
	// OpsAddr is the internal operations listener (full readiness with every
	// dependency, Prometheus metrics, pprof); it must never be reachable
	// from outside, hence loopback by default and no way to turn it off.
	OpsAddr string `env:"OPS_ADDR" envDefault:"127.0.0.1:9080"`
	// AuthURL, UsersURL and ChatURL are the services' internal base URLs.
	// Each may list several instances, comma-separated: REST requests go
	// round-robin over those whose circuit breaker is closed (outlier
	// ejection); the Socket.IO link keeps a connection to each chat-service
	// instance (see ChatURLs); the revocation snapshot is fetched from the
	// first auth-service instance.
	AuthURL  string `env:"AUTH_URL" envDefault:"http://127.0.0.1:8081"`
	UsersURL string `env:"USERS_URL" envDefault:"http://127.0.0.1:8082"`
	ChatURL  string `env:"CHAT_URL" envDefault:"http://127.0.0.1:8083"`

	// SessionPublicKeys lists PEM files whose keys verify session tokens
	// (comma-separated; old and new key during a rotation).
	SessionPublicKeys string `env:"SESSION_PUBLIC_KEYS,required"`
	// InternalSigningKey is the PEM file of the key that signs internal tokens.
	InternalSigningKey string `env:"INTERNAL_SIGNING_KEY,required"`

	AMQPURL          string `env:"AMQP_URL,required"`
	ElasticsearchURL string `env:"ELASTICSEARCH_URL"`
	// LogRetentionDays: daily log and metric indices older than this many
	// days are deleted from Elasticsearch.
	LogRetentionDays int    `env:"LOG_RETENTION_DAYS" envDefault:"14"`
	LogLevel         string `env:"LOG_LEVEL" envDefault:"info"`

	// CookieSecure forces the Secure cookie attribute; it is forced anyway
	// when the gateway serves TLS itself.
	CookieSecure bool `env:"COOKIE_SECURE" envDefault:"false"`
	// TLSCert and TLSKey, when both set, make the gateway serve HTTPS.
	TLSCert string `env:"TLS_CERT"`
	TLSKey  string `env:"TLS_KEY"`

	// AllowedOrigins are the browser origins trusted for state-changing
	// requests and Socket.IO handshakes besides the gateway's own.
	AllowedOrigins []string `env:"ALLOWED_ORIGINS" envSeparator:"," envDefault:"http://localhost:8080,http://127.0.0.1:8080"`
	// TrustedProxies are the CIDRs/IPs of reverse proxies in front of the
	// gateway whose X-Forwarded-For is believed; empty means none, so the
	// client IP is always the TCP peer.
	TrustedProxies []string `env:"TRUSTED_PROXIES" envSeparator:","`

	// UpstreamTimeout bounds every forwarded state-changing request,
	// headers and body; ReadTimeout the reads (GET), AuthTimeout the
	// routes that hash a password or rotate tokens (signup, login,
	// refresh, logout, password change).
	UpstreamTimeout time.Duration `env:"UPSTREAM_TIMEOUT" envDefault:"10s"`
	ReadTimeout     time.Duration `env:"UPSTREAM_READ_TIMEOUT" envDefault:"10s"`
	AuthTimeout     time.Duration `env:"UPSTREAM_AUTH_TIMEOUT" envDefault:"20s"`
	// BreakerFailures consecutive failures (connection failure, timeout,
	// 502 or 504) eject an upstream instance for BreakerOpen, after which
	// one probe request decides whether it is back.
	BreakerFailures int           `env:"BREAKER_FAILURES" envDefault:"5"`
	BreakerOpen     time.Duration `env:"BREAKER_OPEN" envDefault:"5s"`
	// RetryBudget is the share of requests that may be retried (idempotent,
	// bodiless requests that met a connection failure), at most 10 saved up.
	RetryBudget float64 `env:"RETRY_BUDGET" envDefault:"0.1"`
	// Rate limits at the edge, in requests per second with a burst of twice
	// that (at least 1); 0 turns one off. Per client IP on every API route
	// and, tighter, on the auth routes (signup, login, refresh, logout,
	// password); per user on the signed-in read (GET) and write routes.
	// Each gateway instance counts on its own.
	RateIP        float64 `env:"RATE_LIMIT_IP" envDefault:"0"`
	RateAuthIP    float64 `env:"RATE_LIMIT_AUTH_IP" envDefault:"0"`
	RateUserRead  float64 `env:"RATE_LIMIT_USER_READ" envDefault:"0"`
	RateUserWrite float64 `env:"RATE_LIMIT_USER_WRITE" envDefault:"0"`
	// MaxBodyBytes bounds request bodies; larger ones get 413.
	MaxBodyBytes int64 `env:"MAX_BODY_BYTES" envDefault:"1048576"`
	// GatewayID names this instance in presence heartbeats and logs.
	GatewayID string `env:"GATEWAY_ID"`
	// ShutdownTimeout bounds the graceful drain on SIGTERM.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"10s"`

	// RevocationResync is how often the revocation snapshot is fetched again
	// to catch events missed while the broker connection was down.
	RevocationResync time.Duration `env:"REVOCATION_RESYNC" envDefault:"60s"`

	// PresenceHeartbeat is how often the gateway reports its connected users.
	PresenceHeartbeat time.Duration `env:"PRESENCE_HEARTBEAT" envDefault:"10s"`
	// CommandTimeout bounds how long a Socket.IO command waits for
	// chat-service's ack before the client gets gateway_timeout.
	CommandTimeout time.Duration `env:"COMMAND_TIMEOUT" envDefault:"10s"`
	// SocketBufferLimit is how many packets may wait for one slow client
	// before it is disconnected.
	SocketBufferLimit int `env:"SOCKET_BUFFER_LIMIT" envDefault:"1000"`
	// DeliveryQueueExpiry is how long this instance's delivery queue
	// outlives a lost broker connection (x-expires); events published
	// meanwhile wait in it. Past it the queue is gone, and once it is back
	// the sockets are told to sync.
	DeliveryQueueExpiry time.Duration `env:"DELIVERY_QUEUE_EXPIRY" envDefault:"60s"`
	// SocketsPerUser caps one user's open sockets on this instance (tabs,
	// devices); a handshake beyond it is refused with too_many_sockets.
	SocketsPerUser int `env:"SOCKETS_PER_USER" envDefault:"16"`
}

// Load reads the configuration through getenv (os.Getenv in main; a map
// lookup in tests, so a gateway can be built without touching the process
// environment). A variable getenv answers "" for counts as unset.
func Load(getenv func(string) string) (Config, error) {
	var c Config
	if err := envconfig.LoadWith(&c, getenv); err != nil {
		return Config{}, err
	}
	if c.GatewayID == "" {
		c.GatewayID = defaultGatewayID()
	}
	return c, nil
}

// Validate checks combinations and ranges that env tags cannot express.
func (c *Config) Validate() error {
	var errs []error
	var urls [][2]string
	for name, list := range map[string][]string{"AUTH_URL": c.AuthURLs(), "USERS_URL": c.UsersURLs(), "CHAT_URL": c.ChatURLs()} {
		for _, u := range list {
			urls = append(urls, [2]string{name, u})
		}
	}
	for _, nv := range urls {
		u, err := url.Parse(nv[1])
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s: want an absolute http(s) URL, got %q", nv[0], nv[1]))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		errs = append(errs, errors.New("TLS_CERT and TLS_KEY must be set together"))
	}
	for _, o := range c.AllowedOrigins {
		u, err := url.Parse(strings.TrimSpace(o))
		if err != nil || u.Scheme == "" || u.Host == "" || (u.Path != "" && u.Path != "/") {
			errs = append(errs, fmt.Errorf("ALLOWED_ORIGINS: %q is not an origin like https://chat.example.com", o))
		}
	}
	if c.UpstreamTimeout <= 0 || c.ReadTimeout <= 0 || c.AuthTimeout <= 0 {
		errs = append(errs, errors.New("UPSTREAM_TIMEOUT, UPSTREAM_READ_TIMEOUT and UPSTREAM_AUTH_TIMEOUT must be positive"))
	}
	if c.BreakerFailures < 1 || c.BreakerOpen <= 0 {
		errs = append(errs, errors.New("BREAKER_FAILURES must be at least 1 and BREAKER_OPEN positive"))
	}
	if !(c.RetryBudget >= 0 && c.RetryBudget <= 1) {
		errs = append(errs, errors.New("RETRY_BUDGET must be between 0 and 1"))
	}
	for name, r := range map[string]float64{"RATE_LIMIT_IP": c.RateIP, "RATE_LIMIT_AUTH_IP": c.RateAuthIP,
		"RATE_LIMIT_USER_READ": c.RateUserRead, "RATE_LIMIT_USER_WRITE": c.RateUserWrite} {
		if !(r >= 0 && r <= 1e6) {
			errs = append(errs, fmt.Errorf("%s must be between 0 (off) and 1000000 requests per second", name))
		}
	}
	if c.MaxBodyBytes <= 0 {
		errs = append(errs, errors.New("MAX_BODY_BYTES must be positive"))
	}
	if c.ShutdownTimeout <= 0 || c.PresenceHeartbeat <= 0 || c.CommandTimeout <= 0 || c.RevocationResync <= 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT, PRESENCE_HEARTBEAT, COMMAND_TIMEOUT and REVOCATION_RESYNC must be positive"))
	}
	if c.DeliveryQueueExpiry < time.Second || c.DeliveryQueueExpiry > 24*time.Hour {
		errs = append(errs, errors.New("DELIVERY_QUEUE_EXPIRY must be between 1s and 24h"))
	}
	if c.SocketBufferLimit < 1 {
		errs = append(errs, errors.New("SOCKET_BUFFER_LIMIT must be at least 1"))
	}
	if c.SocketsPerUser < 1 {
		errs = append(errs, errors.New("SOCKETS_PER_USER must be at least 1"))
	}
	if err := checkListenAddr(c.OpsAddr); err != nil {
		errs = append(errs, fmt.Errorf("OPS_ADDR: %w", err))
	} else if c.OpsAddr == c.HTTPAddr && !strings.HasSuffix(c.OpsAddr, ":0") {
		errs = append(errs, errors.New("OPS_ADDR must differ from HTTP_ADDR: the ops address is internal"))
	}
	if _, err := zerolog.ParseLevel(c.LogLevel); err != nil {
		errs = append(errs, fmt.Errorf("LOG_LEVEL: %w", err))
	}
	return errors.Join(errs...)
}

// ChatURLs returns the chat-service instances listed in CHAT_URL, in order
// (an empty entry is kept, so Validate reports it).
func (c *Config) ChatURLs() []string { return splitList(c.ChatURL) }

// AuthURLs returns the auth-service instances listed in AUTH_URL.
func (c *Config) AuthURLs() []string { return splitList(c.AuthURL) }

// UsersURLs returns the user-service instances listed in USERS_URL.
func (c *Config) UsersURLs() []string { return splitList(c.UsersURL) }

// LongestTimeout is the longest of the route timeouts.
func (c *Config) LongestTimeout() time.Duration {
	return max(c.UpstreamTimeout, c.ReadTimeout, c.AuthTimeout)
}

func splitList(v string) []string {
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = strings.TrimSpace(p)
	}
	return parts
}

// checkListenAddr refuses what is not a host:port listen address, "off"
// included: every instance has an ops address.
func checkListenAddr(addr string) error {
	if _, port, err := net.SplitHostPort(addr); err != nil || port == "" {
		return fmt.Errorf("want host:port, got %q", addr)
	}
	return nil
}

// TLS reports whether the gateway serves HTTPS itself.
func (c *Config) TLS() bool { return c.TLSCert != "" }

// SecureCookies reports whether cookies get the Secure attribute.
func (c *Config) SecureCookies() bool { return c.CookieSecure || c.TLS() }

// Level returns the parsed log level (Validate has checked it).
func (c *Config) Level() zerolog.Level {
	l, _ := zerolog.ParseLevel(c.LogLevel)
	return l
}

// defaultGatewayID is the host name plus a random suffix, so two instances
// on one host (as in tests) still report presence separately.
func defaultGatewayID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "gateway"
	}
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return host + "-" + hex.EncodeToString(b)
}
