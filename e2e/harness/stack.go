package harness

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options shapes a stack.
type Options struct {
	Gateways int // default 1
	Chats    int // chat-service instances, default 1
	// UserServices is the number of user-service instances (default 1):
	// competing consumers of one queue, gateway i sends REST to instance
	// i mod UserServices.
	UserServices int
	// AuthServices is the number of auth-service instances (default 1),
	// sharing one database; gateway i sends to instance i mod AuthServices,
	// or to every one (its own first) with AllAuthServices.
	AuthServices    int
	AllAuthServices bool
	// LinkAllChats gives every gateway a link to every chat-service
	// instance (CHAT_URL lists them all, its "own" one first); otherwise
	// gateway i links to instance i mod Chats.
	LinkAllChats bool
	// AllUserServices gives every gateway every user-service instance
	// (USERS_URL lists them all, its "own" one first: REST round-robin
	// with ejection); otherwise gateway i uses instance i mod UserServices.
	AllUserServices bool
	// Env adds variables per service binary name (e.g. "gateway").
	Env map[string][]string
	// Logs ships logs to Elasticsearch when true (off by default to keep the
	// log indices for the tests that look at them).
	Logs bool
}

// Stack is a running Parley: its own databases and RabbitMQ vhost, and
// every service instance.
type Stack struct {
	Infra   Infra
	ID      string
	AMQPURL string
	DBURL   map[string]string // by service: auth-service, user-service, chat-service
	Auth    *Process
	// AuthServices are every auth-service instance; Auth is the first.
	AuthServices []*Process
	Users        *Process
	// UserServices are every user-service instance; Users is the first.
	UserServices []*Process
	Chats        []*Process
	Gateways     []*Process
}

// Gateway returns the first gateway's base URL.
func (s *Stack) Gateway() string { return s.Gateways[0].URL() }

// All returns every process.
func (s *Stack) All() []*Process {
	out := append([]*Process{}, s.AuthServices...)
	out = append(out, s.UserServices...)
	out = append(out, s.Chats...)
	return append(out, s.Gateways...)
}

// Start creates fresh databases and a vhost, then starts every service and
// waits until all are ready. Everything is torn down in t.Cleanup.
func Start(t testing.TB, opts Options) *Stack {
	t.Helper()
	if opts.Gateways == 0 {
		opts.Gateways = 1
	}
	if opts.Chats == 0 {
		opts.Chats = 1
	}
	if opts.AuthServices == 0 {
		opts.AuthServices = 1
	}
	if opts.UserServices == 0 {
		opts.UserServices = 1
	}
	inf := LoadInfra(t)
	bin := Binaries(t)
	s := &Stack{Infra: inf, ID: randomID(), DBURL: map[string]string{}}

	s.AMQPURL = s.createVhost(t)
	s.DBURL["auth-service"] = s.createDB(t, inf.AuthDatabaseURL, "auth")
	s.DBURL["user-service"] = s.createDB(t, inf.UsersDatabaseURL, "users")
	s.DBURL["chat-service"] = s.createDB(t, inf.ChatDatabaseURL, "chat")

	common := []string{
		"AMQP_URL=" + s.AMQPURL,
		"INTERNAL_PUBLIC_KEYS=" + inf.InternalPublic,
		"LOG_LEVEL=info",
		"SHUTDOWN_TIMEOUT=5s",
	}
	if opts.Logs {
		common = append(common, "ELASTICSEARCH_URL="+inf.ElasticsearchURL)
	} else {
		common = append(common, "ELASTICSEARCH_URL=")
	}
	with := func(name string, extra ...string) []string {
		env := append(append([]string{}, common...), extra...)
		return append(env, opts.Env[serviceOf(name)]...)
	}
	for i := 0; i < opts.AuthServices; i++ {
		addr, name := FreeAddr(t), "auth-service"
		if i > 0 {
			name = fmt.Sprintf("auth-service-%d", i+1)
		}
		s.AuthServices = append(s.AuthServices, newProcess(t, bin, name, addr, with("auth-service",
			"HTTP_ADDR="+addr, "DATABASE_URL="+s.DBURL["auth-service"], "SESSION_SIGNING_KEY="+inf.SessionKey,
			"SIGNUPS_PER_IP=1000000"))) // every test client signs up from 127.0.0.1
	}
	s.Auth = s.AuthServices[0]
	for i := 0; i < opts.UserServices; i++ {
		addr, name := FreeAddr(t), "user-service"
		if i > 0 {
			name = fmt.Sprintf("user-service-%d", i+1)
		}
		s.UserServices = append(s.UserServices, newProcess(t, bin, name, addr, with("user-service",
			"HTTP_ADDR="+addr, "DATABASE_URL="+s.DBURL["user-service"])))
	}
	s.Users = s.UserServices[0]
	for i := 0; i < opts.Chats; i++ {
		addr := FreeAddr(t)
		s.Chats = append(s.Chats, newProcess(t, bin, fmt.Sprintf("chat-service-%d", i+1), addr, with("chat-service",
			"HTTP_ADDR="+addr, "DATABASE_URL="+s.DBURL["chat-service"])))
	}
	for i := 0; i < opts.Gateways; i++ {
		addr := FreeAddr(t)
		chat := s.Chats[i%len(s.Chats)].URL()
		if opts.LinkAllChats {
			for j := 1; j < len(s.Chats); j++ {
				chat += "," + s.Chats[(i+j)%len(s.Chats)].URL()
			}
		}
		users := s.UserServices[i%len(s.UserServices)].URL()
		if opts.AllUserServices {
			for j := 1; j < len(s.UserServices); j++ {
				users += "," + s.UserServices[(i+j)%len(s.UserServices)].URL()
			}
		}
		auth := s.AuthServices[i%len(s.AuthServices)].URL()
		if opts.AllAuthServices {
			for j := 1; j < len(s.AuthServices); j++ {
				auth += "," + s.AuthServices[(i+j)%len(s.AuthServices)].URL()
			}
		}
		s.Gateways = append(s.Gateways, newProcess(t, bin, fmt.Sprintf("gateway-%d", i+1), addr, with("gateway",
			"HTTP_ADDR="+addr,
			"SESSION_PUBLIC_KEYS="+inf.SessionPublic,
			"INTERNAL_SIGNING_KEY="+inf.InternalKey,
			"AUTH_URL="+auth, "USERS_URL="+users, "CHAT_URL="+chat,
			fmt.Sprintf("GATEWAY_ID=gw-%s-%d", s.ID, i+1),
			"ALLOWED_ORIGINS=http://"+addr+",http://localhost:8080")))
	}
	t.Cleanup(func() {
		for _, p := range s.All() {
			p.Stop()
			if t.Failed() {
				t.Logf("---- %s output (tail) ----\n%s", p.Name, p.Output())
			}
		}
	})
	// Consumers first: their durable queues must exist before auth-service's
	// outbox relay publishes, or the broker has nowhere to route the events.
	first := append(append([]*Process{}, s.UserServices...), s.Chats...)
	for _, p := range first {
		p.StartNoWait()
	}
	for _, p := range first {
		p.WaitReady(90 * time.Second)
	}
	rest := append(append([]*Process{}, s.AuthServices...), s.Gateways...)
	for _, p := range rest {
		p.StartNoWait()
	}
	for _, p := range rest {
		p.WaitReady(90 * time.Second)
	}
	return s
}

func (s *Stack) createDB(t testing.TB, serviceURL, role string) string {
	t.Helper()
	name := fmt.Sprintf("e2e_%s_%s", s.ID, role)
	// The admin role may hand a database to a service role only as a member of it.
	s.adminExec(t, grantMembership(role))
	s.adminExec(t, fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, name, pgx.Identifier{role}.Sanitize()))
	// End the service role's sessions, then a plain DROP: WITH (FORCE)
	// would also try to end an autovacuum worker, which the admin role may
	// not signal (the drop then fails), while a plain DROP stops it itself.
	t.Cleanup(func() {
		s.adminExec(t, fmt.Sprintf(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '%s' AND usename = '%s'`, name, role))
		s.adminExec(t, fmt.Sprintf(`DROP DATABASE IF EXISTS %s`, name))
	})
	u, err := url.Parse(serviceURL)
	if err != nil {
		t.Fatalf("parse %s database url: %v", role, err)
	}
	u.Path = "/" + name
	return u.String()
}

// grantLockKey serializes grantMembership across test processes.
const grantLockKey = 0x7061726c65790e2e // "parley" + e2e

// grantMembership makes the admin role a member of role. Test binaries run
// side by side, and two first GRANTs of the same membership at once race in
// the catalog: one fails on pg_auth_members' unique index. Under a
// transaction-scoped advisory lock (one simple-protocol query is one
// transaction) the second GRANT starts after the first committed and finds
// the membership there (a notice, not an error).
func grantMembership(role string) string {
	return fmt.Sprintf(`SELECT pg_advisory_xact_lock(%d); GRANT %s TO CURRENT_USER`, grantLockKey, pgx.Identifier{role}.Sanitize())
}

func (s *Stack) adminExec(t testing.TB, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.Infra.PGAdminURL)
	if err != nil {
		t.Fatalf("admin connect: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// createVhost makes a RabbitMQ virtual host for this stack so its queues
// never see another stack's (or `make up`'s) messages.
func (s *Stack) createVhost(t testing.TB) string {
	t.Helper()
	vhost := "e2e-" + s.ID
	u, err := url.Parse(s.Infra.AMQPURL)
	if err != nil {
		t.Fatalf("parse AMQP_URL: %v", err)
	}
	s.rabbitmqctl(t, "add_vhost", vhost)
	s.rabbitmqctl(t, "set_permissions", "-p", vhost, u.User.Username(), ".*", ".*", ".*")
	t.Cleanup(func() { s.rabbitmqctl(t, "delete_vhost", vhost) })
	u.Path = "/" + vhost
	return u.String()
}

func (s *Stack) rabbitmqctl(t testing.TB, args ...string) {
	t.Helper()
	out, err := exec.Command(s.Infra.Script, append([]string{"rabbitmqctl"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// Infra runs scripts/infra with args (e.g. "start", "rabbitmq").
func (s *Stack) InfraCmd(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(s.Infra.Script, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("scripts/infra %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

func randomID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
