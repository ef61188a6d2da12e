package deploy

import (
	"fmt"
	"os"
	"path/filepath"
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
