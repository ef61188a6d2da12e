package deploy

import (
	"strings"
	"testing"
)

// A mutation breaks a freshly parsed manifest the way a person might, and
// names the check that must notice and a fragment of what it must say.
// Every check has at least one, so none can pass vacuously.
type composeMutation struct {
	check, name string
	mutate      func(c *composeFile)
	want        string
}

var composeMutations = []composeMutation{
	{"builds", "dockerfile that does not exist", func(c *composeFile) { c.Services["auth-service"].Build.Dockerfile = "auth-service/Dockerfile.old" }, "does not exist"},
	{"builds", "context not the repository root", func(c *composeFile) { c.Services["user-service"].Build.Context = "../user-service" }, "build context"},
	{"builds", "another service's Dockerfile", func(c *composeFile) { c.Services["chat-service"].Build.Dockerfile = "user-service/Dockerfile" }, "want its own"},
	{"builds", "stale version build arg", func(c *composeFile) { c.Services["chat-service"].Build.Args["VERSION"] = "0.0.9" }, "build arg VERSION"},
	{"env", "required variable missing", func(c *composeFile) { delete(c.Services["user-service"].Environment, "DATABASE_URL") }, "required DATABASE_URL is not set"},
	{"env", "required variable empty", func(c *composeFile) { c.Services["gateway"].Environment["INTERNAL_SIGNING_KEY"] = "" }, "required INTERNAL_SIGNING_KEY"},
	{"env", "both signing key forms", func(c *composeFile) { c.Services["auth-service"].Environment["SESSION_SIGNING_KEY_PEM"] = "pem" }, "exactly one of"},
	{"env", "neither signing key form", func(c *composeFile) { delete(c.Services["auth-service"].Environment, "SESSION_SIGNING_KEY") }, "exactly one of"},
	{"env", "misspelt variable", func(c *composeFile) { c.Services["gateway"].Environment["CHAT_ULR"] = "http://chat-service:8083" }, "CHAT_ULR, which its config does not read"},
	{"env", "listens on another port", func(c *composeFile) { c.Services["chat-service"].Environment["HTTP_ADDR"] = ":9000" }, "want the Dockerfile's EXPOSE"},
	{"env", "loopback listen address", func(c *composeFile) { c.Services["gateway"].Environment["HTTP_ADDR"] = "127.0.0.1:8080" }, "only reachable from inside"},
	{"ports", "a backend publishes", func(c *composeFile) { c.Services["auth-service"].Ports = c.Services["gateway"].Ports }, "auth-service publishes a host port"},
	{"ports", "a datastore publishes", func(c *composeFile) { c.Services["postgres"].Ports = c.Services["gateway"].Ports }, "postgres publishes"},
	{"ports", "host network", func(c *composeFile) { c.Services["rabbitmq"].NetworkMode = "host" }, "network_mode host"},
	{"ports", "gateway publishes the wrong port", func(c *composeFile) { c.Services["gateway"].Ports[0].Value = "8080:8081" }, "want exactly the port it listens on"},
	{"networks", "backend on the edge network", func(c *composeFile) { c.Services["user-service"].Networks = stringsOrKeys{"backend", "edge"} }, "user-service: on a non-internal network"},
	{"networks", "backend network not internal", func(c *composeFile) { c.Networks["backend"].Internal = false }, "on a non-internal network"},
	{"networks", "gateway unreachable", func(c *composeFile) { c.Services["gateway"].Networks = stringsOrKeys{"backend"} }, "gateway: on internal networks only"},
	{"networks", "undeclared network", func(c *composeFile) { c.Services["kibana"].Networks = stringsOrKeys{"backnd"} }, "not declared"},
	{"healthcheck", "curl in a scratch image", func(c *composeFile) {
		c.Services["auth-service"].Healthcheck.Test = stringsOrString{"CMD", "curl", "-f", "http://127.0.0.1:8081/readyz"}
	}, "not in a mounted volume"},
	{"healthcheck", "shell in a distroless image", func(c *composeFile) {
		c.Services["gateway"].Healthcheck.Test = stringsOrString{"CMD-SHELL", "wget -qO- http://127.0.0.1:8080/readyz"}
	}, "needs a shell"},
	{"healthcheck", "liveness instead of readiness", func(c *composeFile) {
		t := c.Services["chat-service"].Healthcheck.Test
		t[len(t)-1] = "http://127.0.0.1:8083/healthz"
	}, "does not ask http://127.0.0.1:8083/readyz"},
	{"healthcheck", "no healthcheck", func(c *composeFile) { c.Services["gateway"].Healthcheck = nil }, "gateway: no healthcheck"},
	{"depends_on", "producer before consumer", func(c *composeFile) { delete(c.Services["auth-service"].DependsOn, "user-service") }, "must start after user-service"},
	{"depends_on", "gateway before a service", func(c *composeFile) { c.Services["gateway"].DependsOn["chat-service"] = "service_started" }, "gateway must start after chat-service"},
	{"depends_on", "waits for a health it cannot report", func(c *composeFile) { c.Services["postgres"].Healthcheck = nil }, "postgres to be healthy, but it has no healthcheck"},
	{"depends_on", "datastore only started", func(c *composeFile) { c.Services["user-service"].DependsOn["postgres"] = "service_started" }, "DATABASE_URL names postgres"},
	{"depends_on", "one-shot not awaited", func(c *composeFile) { delete(c.Services["chat-service"].DependsOn, "probe-tools") }, "filled by probe-tools"},
	{"depends_on", "one-shot that restarts", func(c *composeFile) { c.Services["keys"].Restart = "on-failure" }, "but it restarts"},
	{"depends_on", "missing dependency", func(c *composeFile) { c.Services["kibana"].DependsOn["elastic"] = "service_healthy" }, "does not exist"},
	{"urls", "upstream to the wrong service", func(c *composeFile) { c.Services["gateway"].Environment["AUTH_URL"] = "http://user-service:8082" }, "want host auth-service"},
	{"urls", "upstream on the wrong port", func(c *composeFile) { c.Services["gateway"].Environment["CHAT_URL"] = "http://chat-service:8080" }, "but chat-service listens on 8083"},
	{"urls", "unknown host", func(c *composeFile) {
		c.Services["user-service"].Environment["AMQP_URL"] = "amqp://parley:parley_dev@rabbit:5672/"
	}, `host "rabbit" is not a compose service`},
	{"databases", "wrong password", func(c *composeFile) {
		c.Services["auth-service"].Environment["DATABASE_URL"] = "postgres://auth:secret@postgres:5432/parley_auth?sslmode=disable"
	}, "init script has no"},
	{"databases", "database never created", func(c *composeFile) {
		c.Services["chat-service"].Environment["DATABASE_URL"] = "postgres://chat:chat_dev@postgres:5432/chat?sslmode=disable"
	}, "init script has no"},
	{"databases", "two services share a database", func(c *composeFile) {
		c.Services["chat-service"].Environment["DATABASE_URL"] = c.Services["user-service"].Environment["DATABASE_URL"]
	}, "share database parley_users"},
	{"databases", "role with more privileges", func(c *composeFile) {
		c.Configs["pg-init"].Content = strings.Replace(c.Configs["pg-init"].Content, "CREATE ROLE users LOGIN NOSUPERUSER NOCREATEDB", "CREATE ROLE users LOGIN SUPERUSER CREATEDB", 1)
	}, "CREATE ROLE users"},
	{"key files", "key outside any volume", func(c *composeFile) {
		c.Services["gateway"].Environment["SESSION_PUBLIC_KEYS"] = "/etc/parley/session.pub.pem"
	}, "is in no volume it mounts"},
	{"key files", "private key shared", func(c *composeFile) {
		s := c.Services["user-service"]
		s.Volumes = append(s.Volumes, composeMount{Source: "keys-session", Target: "/keys/session", ReadOnly: true})
	}, "user-service mounts \"keys-session\""},
	{"key files", "nothing creates the key", func(c *composeFile) { c.Services["keys"].Command = stringsOrString{"true"} }, "nothing creates"},
	{"grace", "killed before the drain ends", func(c *composeFile) { c.Services["gateway"].StopGracePeriod = "" }, "stop_grace_period 10s <= SHUTDOWN_TIMEOUT 15s"},
	{"grace", "longer drain", func(c *composeFile) { c.Services["chat-service"].Environment["SHUTDOWN_TIMEOUT"] = "30s" }, "chat-service: stop_grace_period"},
	{"images", "latest tag", func(c *composeFile) { c.Services["postgres"].Image = "postgres:latest" }, "not pinned"},
	{"images", "no tag", func(c *composeFile) { c.Services["kibana"].Image = "kibana" }, "has no tag"},
	{"images", "stale service image", func(c *composeFile) { c.Services["gateway"].Image = "parley/gateway:0.0.1" }, "want parley/gateway:0.1.0"},
}

func TestComposeChecksCatchMistakes(t *testing.T) {
	root := repoRoot(t)
	apps := loadApps(t, root)
	covered := map[string]bool{}
	for _, m := range composeMutations {
		covered[m.check] = true
		t.Run(m.check+"/"+m.name, func(t *testing.T) {
			check, ok := composeChecks[m.check]
			if !ok {
				t.Fatalf("no compose check %q", m.check)
			}
			c := loadCompose(t, root)
			if p := check(c, apps); len(p) > 0 {
				t.Fatalf("before the mutation the check already fails: %q", p)
			}
			m.mutate(c)
			assertReported(t, check(c, apps), m.want)
		})
	}
	for _, name := range sortedKeys(composeChecks) {
		if !covered[name] {
			t.Errorf("compose check %q has no mutation proving it can fail", name)
		}
	}
}

// assertReported fails unless one problem contains want.
func assertReported(t *testing.T, problems []string, want string) {
	t.Helper()
	for _, p := range problems {
		if strings.Contains(p, want) {
			return
		}
	}
	t.Errorf("problems = %q, want one containing %q", problems, want)
}
