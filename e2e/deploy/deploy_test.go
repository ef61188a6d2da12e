// Package deploy checks infra/compose.yaml and infra/k8s/ against the code
// they deploy, without Docker or a cluster: every variable a service's
// config requires is set, URLs point at the right services and ports, key
// files are mounted, only the gateway is reachable from outside, probes hit
// the paths the services serve, network policies admit only the gateway,
// and shutdown gets more time than the services' drain.
//
// What a service needs is read from its source (internal/config struct
// tags, Dockerfile, main.go's version), so a new required variable fails
// here until both deployments set it. mutation_test.go breaks each manifest
// on purpose and proves every check notices.
package deploy

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"
)

// appNames are the four Parley services: compose service, Deployment,
// Service and source folder all carry this name.
var appNames = []string{"gateway", "auth-service", "user-service", "chat-service"}

// gatewayName is the one service reachable from outside.
const gatewayName = "gateway"

// oneOf lists variables of which a service needs exactly one, checked by
// its config's Validate rather than a `required` tag.
var oneOf = map[string][][]string{
	"auth-service": {{"SESSION_SIGNING_KEY", "SESSION_SIGNING_KEY_PEM"}},
}

// mustStartAfter orders compose start-up: the event consumers declare their
// queues before auth-service publishes registrations (as scripts/run does).
var mustStartAfter = map[string][]string{
	"auth-service": {"user-service", "chat-service"},
	"gateway":      {"auth-service", "user-service", "chat-service"},
}

// upstreamVars maps the gateway's service URLs to the service each must
// reach.
var upstreamVars = map[string]string{
	"AUTH_URL":  "auth-service",
	"USERS_URL": "user-service",
	"CHAT_URL":  "chat-service",
}

// keyFileVars name PEM files (comma-separated lists for *_KEYS); signing
// keys are private and must reach only the service that signs.
var keyFileVars = map[string]bool{
	"SESSION_SIGNING_KEY":  true,
	"INTERNAL_SIGNING_KEY": true,
	"SESSION_PUBLIC_KEYS":  false,
	"INTERNAL_PUBLIC_KEYS": false,
}

// runtimeVars are read by the Go runtime or libc, not the config struct,
// and may be set for any service.
var runtimeVars = map[string]bool{
	"GOMEMLIMIT": true, "GOMAXPROCS": true, "GODEBUG": true, "GOGC": true,
	"SSL_CERT_FILE": true, "SSL_CERT_DIR": true, "TZ": true,
}

// minReplicas is what the brief asks of the Kubernetes Deployments.
var minReplicas = map[string]int{"gateway": 2, "chat-service": 2, "auth-service": 1, "user-service": 1}

// app is what a service's source says it needs from a deployment.
type app struct {
	Name       string
	Version    string            // var version in cmd/<name>/main.go
	Port       string            // EXPOSE in its Dockerfile
	FinalFrom  string            // base image of the Dockerfile's last stage
	Required   []string          // env tags marked required
	Known      map[string]bool   // every variable the config reads
	Defaults   map[string]string // envDefault values
	ImageEnv   map[string]string // ENV in the Dockerfile: set unless overridden
	Dockerfile string            // path from the repository root
}

// repoRoot is two levels up from this package (e2e/deploy).
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		t.Fatalf("repository root %s: no go.work (%v)", root, err)
	}
	return root
}

// loadApps reads every service's config, Dockerfile and version.
func loadApps(t *testing.T, root string) map[string]*app {
	t.Helper()
	apps := make(map[string]*app, len(appNames))
	for _, name := range appNames {
		a := &app{Name: name, Known: map[string]bool{}, Defaults: map[string]string{}, ImageEnv: map[string]string{}}
		if err := readConfig(filepath.Join(root, name, "internal", "config"), a); err != nil {
			t.Fatalf("%s config: %v", name, err)
		}
		if err := readDockerfile(root, filepath.Join(name, "Dockerfile"), a); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		main, err := os.ReadFile(filepath.Join(root, name, "cmd", name, "main.go"))
		if err != nil {
			t.Fatal(err)
		}
		m := regexp.MustCompile(`(?m)^var version = "([^"]+)"`).FindSubmatch(main)
		if m == nil {
			t.Fatalf("%s: no `var version = \"...\"` in cmd/%s/main.go", name, name)
		}
		a.Version = string(m[1])
		for _, group := range oneOf[name] {
			for _, v := range group {
				if !a.Known[v] {
					t.Fatalf("%s: oneOf names %s, which its config no longer reads: update oneOf", name, v)
				}
			}
		}
		apps[name] = a
	}
	return apps
}

// readConfig collects the `env` struct tags of every non-test Go file in dir.
func readConfig(dir string, a *app) error {
	fset := token.NewFileSet()
	pkgs, err := parser.ParseDir(fset, dir, func(fi os.FileInfo) bool {
		return !strings.HasSuffix(fi.Name(), "_test.go")
	}, 0)
	if err != nil {
		return err
	}
	for _, pkg := range pkgs {
		for _, f := range pkg.Files {
			ast.Inspect(f, func(n ast.Node) bool {
				field, ok := n.(*ast.Field)
				if !ok || field.Tag == nil {
					return true
				}
				raw, err := strconv.Unquote(field.Tag.Value)
				if err != nil {
					return true
				}
				tag := reflect.StructTag(raw)
				env, ok := tag.Lookup("env")
				if !ok {
					return true
				}
				parts := strings.Split(env, ",")
				name := parts[0]
				a.Known[name] = true
				for _, opt := range parts[1:] {
					if opt == "required" || opt == "notEmpty" {
						a.Required = append(a.Required, name)
					}
				}
				if d, ok := tag.Lookup("envDefault"); ok {
					a.Defaults[name] = d
				}
				return true
			})
		}
	}
	if len(a.Known) == 0 {
		return fmt.Errorf("no env tags found in %s", dir)
	}
	sort.Strings(a.Required)
	return nil
}

// readDockerfile checks that the Dockerfile exists, builds from the
// repository root (every COPY source exists there) and notes its port and
// final base image.
func readDockerfile(root, rel string, a *app) error {
	b, err := os.ReadFile(filepath.Join(root, rel))
	if err != nil {
		return fmt.Errorf("dockerfile: %w", err)
	}
	a.Dockerfile = rel
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		switch strings.ToUpper(f[0]) {
		case "FROM":
			a.FinalFrom = f[1]
		case "ENV":
			for _, kv := range f[1:] {
				if k, v, ok := strings.Cut(kv, "="); ok {
					a.ImageEnv[k] = v
				}
			}
		case "EXPOSE":
			a.Port = strings.TrimSuffix(f[1], "/tcp")
		case "COPY":
			if strings.HasPrefix(f[1], "--from") {
				continue
			}
			for _, src := range f[1 : len(f)-1] {
				if strings.HasPrefix(src, "--") {
					continue
				}
				if _, err := os.Stat(filepath.Join(root, src)); err != nil {
					return fmt.Errorf("%s: COPY %s: not in the repository root build context", rel, src)
				}
			}
		}
	}
	if a.Port == "" || a.FinalFrom == "" {
		return fmt.Errorf("%s: want FROM and EXPOSE", rel)
	}
	return nil
}

// withImageEnv returns env on top of the image's own ENV, as the container
// sees it.
func (a *app) withImageEnv(env map[string]string) map[string]string {
	out := make(map[string]string, len(env)+len(a.ImageEnv))
	for k, v := range a.ImageEnv {
		out[k] = v
	}
	for k, v := range env {
		out[k] = v
	}
	return out
}

// hasShell reports whether an image can run a healthcheck tool of its own.
func (a *app) hasShell() bool {
	return !(a.FinalFrom == "scratch" || strings.Contains(a.FinalFrom, "distroless"))
}

// durationOf parses a Go duration, "" meaning def.
func durationOf(s, def string) (time.Duration, error) {
	if s == "" {
		s = def
	}
	return time.ParseDuration(s)
}

// portOf returns the port of a listen address like ":8081" or "0.0.0.0:8081".
func portOf(addr string) string {
	if i := strings.LastIndex(addr, ":"); i >= 0 {
		return addr[i+1:]
	}
	return ""
}

// report fails t with every problem, one per line.
func report(t *testing.T, problems []string) {
	t.Helper()
	for _, p := range problems {
		t.Error(p)
	}
}

// TestSourceFacts guards the parsing the other checks rely on: if it finds
// nothing, they would pass vacuously.
func TestSourceFacts(t *testing.T) {
	apps := loadApps(t, repoRoot(t))
	for _, name := range appNames {
		a := apps[name]
		for _, want := range []string{"AMQP_URL", "SHUTDOWN_TIMEOUT", "HTTP_ADDR"} {
			if !a.Known[want] {
				t.Errorf("%s: config reads no %s; parsing is broken or the service changed", name, want)
			}
		}
		if !contains(a.Required, "AMQP_URL") {
			t.Errorf("%s: required = %v, want AMQP_URL among them", name, a.Required)
		}
		if _, err := strconv.Atoi(a.Port); err != nil {
			t.Errorf("%s: EXPOSE %q is not a port", name, a.Port)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
