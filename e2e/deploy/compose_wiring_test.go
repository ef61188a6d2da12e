package deploy

import (
	"fmt"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
)

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
