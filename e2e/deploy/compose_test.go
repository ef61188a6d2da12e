package deploy

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
)

// composeCheck inspects a parsed compose file and returns what is wrong.
type composeCheck func(c *composeFile, apps map[string]*app) []string

// composeChecks are every compose check, by name, for the test below and
// for mutation_test.go.
var composeChecks = map[string]composeCheck{
	"builds":      checkComposeBuilds,
	"env":         checkComposeEnv,
	"ports":       checkComposePorts,
	"networks":    checkComposeNetworks,
	"healthcheck": checkComposeHealth,
	"depends_on":  checkComposeDependsOn,
	"urls":        checkComposeURLs,
	"databases":   checkComposeDatabases,
	"key files":   checkComposeKeyFiles,
	"grace":       checkComposeGrace,
	"images":      checkComposeImages,
}

func TestCompose(t *testing.T) {
	root := repoRoot(t)
	apps := loadApps(t, root)
	c := loadCompose(t, root)
	for _, name := range sortedKeys(composeChecks) {
		t.Run(name, func(t *testing.T) { report(t, composeChecks[name](c, apps)) })
	}
}

// checkComposeBuilds: each service is built from its own Dockerfile with
// the repository root as context, tagged and stamped with its version.
func checkComposeBuilds(c *composeFile, apps map[string]*app) []string {
	var p []string
	for _, name := range appNames {
		s, ok := c.Services[name]
		if !ok {
			p = append(p, fmt.Sprintf("service %s missing", name))
			continue
		}
		if s.Build == nil {
			p = append(p, fmt.Sprintf("%s: no build section", name))
			continue
		}
		ctx := filepath.Clean(filepath.Join(c.Dir, s.Build.Context))
		root := filepath.Dir(c.Dir)
		if ctx != root {
			p = append(p, fmt.Sprintf("%s: build context %s, want the repository root %s (the Dockerfiles COPY shared/)", name, ctx, root))
		}
		df := filepath.Join(ctx, s.Build.Dockerfile)
		if _, err := os.Stat(df); err != nil {
			p = append(p, fmt.Sprintf("%s: dockerfile %s does not exist", name, df))
		} else if rel, _ := filepath.Rel(root, df); rel != apps[name].Dockerfile {
			p = append(p, fmt.Sprintf("%s: builds %s, want its own %s", name, rel, apps[name].Dockerfile))
		}
		if got := s.Build.Args["VERSION"]; got != apps[name].Version {
			p = append(p, fmt.Sprintf("%s: build arg VERSION = %q, want %q (cmd/%s/main.go)", name, got, apps[name].Version, name))
		}
	}
	return p
}

// checkComposeEnv: required variables set, exactly one of each oneOf group,
// and nothing the config does not read (a typo would be silently ignored).
func checkComposeEnv(c *composeFile, apps map[string]*app) []string {
	var p []string
	for _, name := range appNames {
		s := c.Services[name]
		if s == nil {
			continue
		}
		p = append(p, envProblems("compose "+name, apps[name].withImageEnv(s.env()), apps[name])...)
	}
	return p
}

// envProblems is shared by the compose and Kubernetes env checks.
func envProblems(where string, env map[string]string, a *app) []string {
	var p []string
	for _, v := range a.Required {
		if strings.TrimSpace(env[v]) == "" {
			p = append(p, fmt.Sprintf("%s: required %s is not set", where, v))
		}
	}
	for _, group := range oneOf[a.Name] {
		set := 0
		for _, v := range group {
			if env[v] != "" {
				set++
			}
		}
		if set != 1 {
			p = append(p, fmt.Sprintf("%s: set exactly one of %v, got %d", where, group, set))
		}
	}
	for _, k := range sortedKeys(env) {
		if !a.Known[k] && !runtimeVars[k] {
			p = append(p, fmt.Sprintf("%s: sets %s, which its config does not read", where, k))
		}
	}
	addr := env["HTTP_ADDR"]
	if port := portOf(addr); port != a.Port {
		p = append(p, fmt.Sprintf("%s: HTTP_ADDR %q listens on %q, want the Dockerfile's EXPOSE %s", where, addr, port, a.Port))
	}
	// A container or pod is reached on its own network interface: an
	// address bound to loopback (the services' local default) is only
	// reachable from inside.
	if host := strings.Trim(addr[:max(0, strings.LastIndex(addr, ":"))], "[]"); host != "" && host != "0.0.0.0" && host != "::" {
		p = append(p, fmt.Sprintf("%s: HTTP_ADDR %q binds %s, only reachable from inside; want \":%s\"", where, addr, host, a.Port))
	}
	return p
}

// checkComposePorts: only the gateway publishes, and it publishes the port
// it listens on.
func checkComposePorts(c *composeFile, apps map[string]*app) []string {
	var p []string
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if s.NetworkMode == "host" {
			p = append(p, fmt.Sprintf("%s: network_mode host exposes every port it opens", name))
		}
		if name != gatewayName && s.publishes() {
			p = append(p, fmt.Sprintf("%s publishes a host port; only the gateway may", name))
		}
	}
	if g := c.Services[gatewayName]; g != nil {
		ports := g.publishedContainerPorts()
		if want := listenPort(g, apps[gatewayName]); len(ports) != 1 || ports[0] != want {
			p = append(p, fmt.Sprintf("gateway publishes container ports %v, want exactly the port it listens on, %s", ports, want))
		}
	}
	return p
}

// checkComposeNetworks: services other than the gateway sit on internal
// networks only (no way in from the host); the gateway also joins a
// non-internal one, or its published port would lead nowhere.
func checkComposeNetworks(c *composeFile, apps map[string]*app) []string {
	var p []string
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if s.NetworkMode == "none" {
			continue
		}
		nets := s.Networks
		if len(nets) == 0 {
			nets = stringsOrKeys{"default"}
		}
		external := 0
		for _, n := range nets {
			def, ok := c.Networks[n]
			if !ok && n != "default" {
				p = append(p, fmt.Sprintf("%s: network %s is not declared", name, n))
				continue
			}
			if def == nil || !def.Internal {
				external++
			}
		}
		switch {
		case name == gatewayName && external == 0:
			p = append(p, "gateway: on internal networks only; its published port would be unreachable")
		case name != gatewayName && external > 0:
			p = append(p, fmt.Sprintf("%s: on a non-internal network %v; only the gateway may be", name, nets))
		}
	}
	return p
}

// checkComposeHealth: every service's healthcheck asks its own /readyz on
// the port it listens on, with a program the image can run.
func checkComposeHealth(c *composeFile, apps map[string]*app) []string {
	var p []string
	for _, name := range appNames {
		s := c.Services[name]
		if s == nil {
			continue
		}
		if s.Healthcheck == nil || s.Healthcheck.Disable || len(s.Healthcheck.Test) < 2 {
			p = append(p, fmt.Sprintf("%s: no healthcheck", name))
			continue
		}
		test := s.Healthcheck.Test
		want := fmt.Sprintf("http://127.0.0.1:%s/readyz", listenPort(s, apps[name]))
		if !strings.Contains(strings.Join(test, " "), want) {
			p = append(p, fmt.Sprintf("%s: healthcheck %v does not ask %s", name, test, want))
		}
		if apps[name].hasShell() {
			continue
		}
		// FROM scratch / distroless: no shell, no curl. The program must
		// come from a mounted volume.
		if test[0] != "CMD" {
			p = append(p, fmt.Sprintf("%s: healthcheck %s needs a shell, which %s lacks", name, test[0], apps[name].FinalFrom))
			continue
		}
		if _, ok := s.mountFor(test[1]); !ok {
			p = append(p, fmt.Sprintf("%s: healthcheck runs %s, which is not in a mounted volume (image %s has nothing else)", name, test[1], apps[name].FinalFrom))
		}
	}
	return p
}

// checkComposeDependsOn: targets exist and can satisfy their condition,
// every datastore or service a service's URLs name is started (healthy)
// first, and consumers start before producers.
func checkComposeDependsOn(c *composeFile, apps map[string]*app) []string {
	var p []string
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		for _, dep := range sortedKeys(s.DependsOn) {
			cond := s.DependsOn[dep]
			d, ok := c.Services[dep]
			switch {
			case !ok:
				p = append(p, fmt.Sprintf("%s depends on %s, which does not exist", name, dep))
			case cond == "service_healthy" && (d.Healthcheck == nil || d.Healthcheck.Disable):
				p = append(p, fmt.Sprintf("%s waits for %s to be healthy, but it has no healthcheck", name, dep))
			case cond == "service_completed_successfully" && d.Restart != "" && d.Restart != "no":
				p = append(p, fmt.Sprintf("%s waits for one-shot %s to complete, but it restarts (%s)", name, dep, d.Restart))
			}
		}
	}
	for _, name := range appNames {
		s := c.Services[name]
		if s == nil {
			continue
		}
		for _, v := range sortedKeys(s.Environment) {
			u, err := url.Parse(s.env()[v])
			if err != nil || u.Host == "" {
				continue
			}
			if host := u.Hostname(); c.Services[host] != nil && s.DependsOn[host] != "service_healthy" {
				p = append(p, fmt.Sprintf("%s: %s names %s, so it must depend on it with condition service_healthy", name, v, host))
			}
		}
		for _, before := range mustStartAfter[name] {
			if s.DependsOn[before] != "service_healthy" {
				p = append(p, fmt.Sprintf("%s must start after %s is healthy (depends_on condition service_healthy)", name, before))
			}
		}
		for _, m := range s.Volumes {
			if owner := volumeWriter(c, m.Source); owner != "" && s.DependsOn[owner] != "service_completed_successfully" {
				p = append(p, fmt.Sprintf("%s mounts %s, filled by %s, so it must wait for it to complete", name, m.Source, owner))
			}
		}
	}
	return p
}

// listenPort is the port a service's container listens on.
func listenPort(s *composeService, a *app) string {
	return portOf(a.withImageEnv(s.env())["HTTP_ADDR"])
}

// volumeWriter returns the one-shot service that mounts volume writable.
func volumeWriter(c *composeFile, volume string) string {
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if s.Restart != "no" {
			continue
		}
		for _, m := range s.Volumes {
			if m.Source == volume && !m.ReadOnly {
				return name
			}
		}
	}
	return ""
}

// checkComposeURLs: every URL names a compose service; the gateway's
// upstream URLs name the right service on the port it listens on.
func checkComposeURLs(c *composeFile, apps map[string]*app) []string {
	var p []string
	for _, name := range appNames {
		s := c.Services[name]
		if s == nil {
			continue
		}
		env := s.env()
		for _, v := range sortedKeys(env) {
			u, err := url.Parse(env[v])
			if err != nil || u.Host == "" || !strings.HasSuffix(v, "_URL") {
				continue
			}
			if c.Services[u.Hostname()] == nil {
				p = append(p, fmt.Sprintf("%s: %s host %q is not a compose service", name, v, u.Hostname()))
			}
		}
	}
	if g := c.Services[gatewayName]; g != nil {
		env := g.env()
		for _, v := range sortedKeys(upstreamVars) {
			target := upstreamVars[v]
			u, err := url.Parse(env[v])
			if err != nil || u.Hostname() != target {
				p = append(p, fmt.Sprintf("gateway: %s = %q, want host %s", v, env[v], target))
				continue
			}
			if ts := c.Services[target]; ts != nil && u.Port() != listenPort(ts, apps[target]) {
				p = append(p, fmt.Sprintf("gateway: %s port %s, but %s listens on %s", v, u.Port(), target, listenPort(ts, apps[target])))
			}
		}
	}
	return p
}

// checkComposeDatabases: each DATABASE_URL's role, password and database
// are created by the PostgreSQL init script, least-privilege like
// scripts/infra, and no two services share a database.
func checkComposeDatabases(c *composeFile, apps map[string]*app) []string {
	var p []string
	sql := ""
	if pg := c.Services["postgres"]; pg != nil {
		for _, ref := range pg.Configs {
			if cfg := c.Configs[ref.Source]; cfg != nil && strings.HasPrefix(ref.Target, "/docker-entrypoint-initdb.d/") {
				sql += interpolate(cfg.Content)
			}
		}
	}
	seen := map[string]string{}
	for _, name := range appNames {
		s := c.Services[name]
		if s == nil || s.env()["DATABASE_URL"] == "" {
			continue
		}
		u, err := url.Parse(s.env()["DATABASE_URL"])
		if err != nil {
			p = append(p, fmt.Sprintf("%s: DATABASE_URL: %v", name, err))
			continue
		}
		user, db := u.User.Username(), strings.TrimPrefix(u.Path, "/")
		pw, _ := u.User.Password()
		if other, dup := seen[db]; dup {
			p = append(p, fmt.Sprintf("%s and %s share database %s", other, name, db))
		}
		seen[db] = name
		q := regexp.QuoteMeta
		for _, want := range []string{
			`CREATE ROLE ` + q(user) + ` LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE[^;]* PASSWORD '` + q(pw) + `'`,
			`CREATE DATABASE ` + q(db) + ` OWNER ` + q(user) + `;`,
			`REVOKE ALL ON DATABASE ` + q(db) + ` FROM PUBLIC;`,
		} {
			if !regexp.MustCompile(want).MatchString(sql) {
				p = append(p, fmt.Sprintf("%s: DATABASE_URL %s@%s, but the postgres init script has no %q", name, user, db, want))
			}
		}
	}
	return p
}

// checkComposeKeyFiles: every key file a service is told to read lies in a
// volume it mounts, which the keys service fills with that file; a signing
// key's volume is mounted by no other Parley service.
func checkComposeKeyFiles(c *composeFile, apps map[string]*app) []string {
	var p []string
	for _, name := range appNames {
		s := c.Services[name]
		if s == nil {
			continue
		}
		env := s.env()
		for _, v := range sortedKeys(keyFileVars) {
			for _, path := range splitList(env[v]) {
				m, ok := s.mountFor(path)
				if !ok {
					p = append(p, fmt.Sprintf("%s: %s = %s is in no volume it mounts", name, v, path))
					continue
				}
				writer := volumeWriter(c, m.Source)
				stem, _, _ := strings.Cut(filepath.Base(path), ".")
				if writer == "" || !strings.Contains(strings.Join(c.Services[writer].Command, " "), stem) {
					p = append(p, fmt.Sprintf("%s: %s: nothing creates %s in volume %q", name, v, filepath.Base(path), m.Source))
				}
				if !keyFileVars[v] {
					continue
				}
				for _, other := range appNames {
					if o := c.Services[other]; other != name && o != nil {
						for _, om := range o.Volumes {
							if om.Source == m.Source {
								p = append(p, fmt.Sprintf("%s mounts %q, which holds %s's private %s", other, m.Source, name, v))
							}
						}
					}
				}
			}
		}
	}
	return p
}

// checkComposeGrace: Compose waits longer than the service drains before
// it sends SIGKILL.
func checkComposeGrace(c *composeFile, apps map[string]*app) []string {
	var p []string
	for _, name := range appNames {
		s := c.Services[name]
		if s == nil {
			continue
		}
		drain, err := durationOf(s.env()["SHUTDOWN_TIMEOUT"], apps[name].Defaults["SHUTDOWN_TIMEOUT"])
		if err != nil {
			p = append(p, fmt.Sprintf("%s: SHUTDOWN_TIMEOUT: %v", name, err))
			continue
		}
		grace, err := durationOf(s.StopGracePeriod, "10s")
		if err != nil {
			p = append(p, fmt.Sprintf("%s: stop_grace_period: %v", name, err))
			continue
		}
		if grace <= drain {
			p = append(p, fmt.Sprintf("%s: stop_grace_period %s <= SHUTDOWN_TIMEOUT %s: the drain is cut short by SIGKILL", name, grace, drain))
		}
	}
	return p
}

// checkComposeImages: every image is pinned by a version tag; the services'
// own images carry their version.
func checkComposeImages(c *composeFile, apps map[string]*app) []string {
	var p []string
	for _, name := range sortedKeys(c.Services) {
		s := c.Services[name]
		if problem := pinned(s.Image); problem != "" {
			p = append(p, fmt.Sprintf("%s: image %q %s", name, s.Image, problem))
		}
		if a := apps[name]; a != nil && s.Image != "parley/"+name+":"+a.Version {
			p = append(p, fmt.Sprintf("%s: image %q, want parley/%s:%s", name, s.Image, name, a.Version))
		}
	}
	return p
}

// pinned explains why image is not pinned to a version, or returns "".
func pinned(image string) string {
	if image == "" {
		return "is empty"
	}
	if strings.Contains(image, "@sha256:") {
		return ""
	}
	i := strings.LastIndex(image, ":")
	if i < 0 || strings.Contains(image[i:], "/") {
		return "has no tag"
	}
	if tag := image[i+1:]; tag == "latest" || !regexp.MustCompile(`\d`).MatchString(tag) {
		return "is not pinned to a version"
	}
	return ""
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
