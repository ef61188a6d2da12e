package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// k8sCheck inspects the parsed manifests and returns what is wrong.
type k8sCheck func(m *manifests, apps map[string]*app) []string

// k8sChecks are every Kubernetes check, by name, for the test below and for
// mutation_test.go.
var k8sChecks = map[string]k8sCheck{
	"objects":          checkK8sObjects,
	"kustomization":    checkK8sKustomization,
	"deployments":      checkK8sDeployments,
	"env":              checkK8sEnv,
	"probes":           checkK8sProbes,
	"security":         checkK8sSecurity,
	"grace":            checkK8sGrace,
	"key files":        checkK8sKeyFiles,
	"services":         checkK8sServices,
	"upstreams":        checkK8sUpstreams,
	"network policies": checkK8sNetworkPolicies,
}

func TestKubernetes(t *testing.T) {
	root := repoRoot(t)
	apps := loadApps(t, root)
	m := loadManifests(t, root)
	for _, name := range sortedKeys(k8sChecks) {
		t.Run(name, func(t *testing.T) { report(t, k8sChecks[name](m, apps)) })
	}
}

// servedPaths are the health routes shared/httpserver registers, read from
// its source so a renamed route fails the probe check.
func servedPaths(root string) (map[string]bool, error) {
	b, err := os.ReadFile(filepath.Join(root, "shared", "httpserver", "health.go"))
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, m := range regexp.MustCompile(`\.GET\("(/[a-z]+)"`).FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = true
	}
	return out, nil
}

// TestHealthRoutes checks that the probes' paths are what the services
// serve: shared/httpserver registers them and every service uses it.
func TestHealthRoutes(t *testing.T) {
	root := repoRoot(t)
	paths, err := servedPaths(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"/healthz", "/readyz"} {
		if !paths[want] {
			t.Errorf("shared/httpserver/health.go registers %v, want %s among them", paths, want)
		}
	}
	for _, name := range appNames {
		found := false
		_ = filepath.WalkDir(filepath.Join(root, name), func(path string, d os.DirEntry, err error) error {
			if err != nil || found || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			b, err := os.ReadFile(path)
			found = err == nil && strings.Contains(string(b), "httpserver.Health{")
			return err
		})
		if !found {
			t.Errorf("%s: builds no httpserver.Health, so it may not serve /healthz and /readyz", name)
		}
	}
}

// checkK8sObjects: every object is named and lives in the parley namespace.
func checkK8sObjects(m *manifests, apps map[string]*app) []string {
	var p []string
	seen := map[string]bool{}
	hasNamespace := false
	for _, o := range m.Objects {
		if o.Kind == "Kustomization" {
			continue
		}
		id := o.Kind + "/" + o.Metadata.Name
		switch {
		case o.APIVersion == "" || o.Kind == "" || o.Metadata.Name == "":
			p = append(p, fmt.Sprintf("%s: an object without apiVersion, kind or metadata.name (%s)", o.File, id))
		case o.Kind == "Namespace":
			hasNamespace = hasNamespace || o.Metadata.Name == k8sNamespace
		case o.Metadata.Namespace != k8sNamespace:
			p = append(p, fmt.Sprintf("%s: %s is in namespace %q, want %s", o.File, id, o.Metadata.Namespace, k8sNamespace))
		}
		if seen[id] {
			p = append(p, fmt.Sprintf("%s: %s defined twice", o.File, id))
		}
		seen[id] = true
	}
	if !hasNamespace {
		p = append(p, "no Namespace "+k8sNamespace)
	}
	return p
}

// checkK8sKustomization: `kubectl apply -k` applies every manifest except
// the examples, and names no missing file.
func checkK8sKustomization(m *manifests, apps map[string]*app) []string {
	if m.Kustomization == nil {
		return []string{"no kustomization.yaml"}
	}
	var p []string
	listed := map[string]bool{}
	for _, r := range m.Kustomization.Resources {
		listed[r] = true
		if !contains(m.Files, r) {
			p = append(p, fmt.Sprintf("kustomization lists %s, which does not exist", r))
		}
		if strings.HasSuffix(r, ".example.yaml") {
			p = append(p, fmt.Sprintf("kustomization applies %s: its placeholders would overwrite real secrets", r))
		}
	}
	for _, f := range m.Files {
		if f != "kustomization.yaml" && !strings.HasSuffix(f, ".example.yaml") && !listed[f] {
			p = append(p, fmt.Sprintf("kustomization does not list %s", f))
		}
	}
	return p
}

// checkK8sDeployments: one Deployment per service with enough replicas, a
// selector matching its pods, and the service's versioned image.
func checkK8sDeployments(m *manifests, apps map[string]*app) []string {
	var p []string
	for _, name := range appNames {
		d, ok := m.Deployments[name]
		if !ok {
			p = append(p, "no Deployment "+name)
			continue
		}
		replicas := 1
		if d.Spec.Replicas != nil {
			replicas = *d.Spec.Replicas
		}
		if replicas < minReplicas[name] {
			p = append(p, fmt.Sprintf("%s: %d replicas, want at least %d", name, replicas, minReplicas[name]))
		}
		if len(d.Spec.Selector.MatchLabels) == 0 || !d.Spec.Selector.selects(d.podLabels()) {
			p = append(p, fmt.Sprintf("%s: selector %v does not match its pod labels %v", name, d.Spec.Selector.MatchLabels, d.podLabels()))
		}
		c, err := appContainer(d, name)
		if err != nil {
			p = append(p, err.Error())
			continue
		}
		if want := "parley/" + name + ":" + apps[name].Version; c.Image != want {
			p = append(p, fmt.Sprintf("%s: image %q, want %q (cmd/%s/main.go's version)", name, c.Image, want, name))
		}
	}
	return p
}

// checkK8sEnv: every required variable resolves to a value, through env,
// envFrom and references to objects that exist.
func checkK8sEnv(m *manifests, apps map[string]*app) []string {
	var p []string
	forEachApp(m, &p, func(name string, d *deployment, c *container) {
		env, refs := m.resolveEnv(c)
		for _, r := range refs {
			p = append(p, fmt.Sprintf("k8s %s: %s", name, r))
		}
		p = append(p, envProblems("k8s "+name, apps[name].withImageEnv(env), apps[name])...)
	})
	return p
}

// checkK8sProbes: readiness asks /readyz and liveness /healthz, on the
// port the service listens on.
func checkK8sProbes(m *manifests, apps map[string]*app) []string {
	var p []string
	forEachApp(m, &p, func(name string, d *deployment, c *container) {
		env, _ := m.resolveEnv(c)
		port := portOf(apps[name].withImageEnv(env)["HTTP_ADDR"])
		for _, pr := range []struct {
			kind, path string
			probe      *probe
		}{{"readinessProbe", "/readyz", c.ReadinessProbe}, {"livenessProbe", "/healthz", c.LivenessProbe}} {
			switch {
			case pr.probe == nil || pr.probe.HTTPGet == nil:
				p = append(p, fmt.Sprintf("%s: no HTTP %s", name, pr.kind))
			case pr.probe.HTTPGet.Path != pr.path:
				p = append(p, fmt.Sprintf("%s: %s asks %s, want %s", name, pr.kind, pr.probe.HTTPGet.Path, pr.path))
			case c.port(pr.probe.HTTPGet.Port) != port:
				p = append(p, fmt.Sprintf("%s: %s port %q is container port %q, but the service listens on %s", name, pr.kind, pr.probe.HTTPGet.Port, c.port(pr.probe.HTTPGet.Port), port))
			}
		}
	})
	return p
}

// checkK8sSecurity: non-root, read-only root file system, no privilege
// escalation or capabilities, no host network or ports, bounded resources.
func checkK8sSecurity(m *manifests, apps map[string]*app) []string {
	var p []string
	forEachApp(m, &p, func(name string, d *deployment, c *container) {
		pod := d.Spec.Template.Spec.SecurityContext
		sc := c.SecurityContext
		if sc == nil {
			sc = &securityContext{}
		}
		isTrue := func(b *bool) bool { return b != nil && *b }
		if !isTrue(sc.RunAsNonRoot) && (pod == nil || !isTrue(pod.RunAsNonRoot)) {
			p = append(p, name+": runAsNonRoot is not true")
		}
		if !isTrue(sc.ReadOnlyRootFilesystem) {
			p = append(p, name+": readOnlyRootFilesystem is not true")
		}
		if sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			p = append(p, name+": allowPrivilegeEscalation is not false")
		}
		if isTrue(sc.Privileged) {
			p = append(p, name+": privileged")
		}
		if sc.Capabilities == nil || !contains(sc.Capabilities.Drop, "ALL") {
			p = append(p, name+": capabilities do not drop ALL")
		}
		if d.Spec.Template.Spec.HostNetwork {
			p = append(p, name+": hostNetwork exposes the pod on the node")
		}
		for _, cp := range c.Ports {
			if cp.HostPort != 0 {
				p = append(p, fmt.Sprintf("%s: hostPort %d exposes it on the node", name, cp.HostPort))
			}
		}
		for _, r := range []string{"cpu", "memory"} {
			if c.Resources.Requests[r] == "" || c.Resources.Limits[r] == "" {
				p = append(p, fmt.Sprintf("%s: %s request and limit must both be set", name, r))
			}
		}
	})
	return p
}

// checkK8sGrace: the pod is killed only after the preStop pause and the
// service's drain are over.
func checkK8sGrace(m *manifests, apps map[string]*app) []string {
	var p []string
	forEachApp(m, &p, func(name string, d *deployment, c *container) {
		env, _ := m.resolveEnv(c)
		drain, err := durationOf(env["SHUTDOWN_TIMEOUT"], apps[name].Defaults["SHUTDOWN_TIMEOUT"])
		if err != nil {
			p = append(p, fmt.Sprintf("%s: SHUTDOWN_TIMEOUT: %v", name, err))
			return
		}
		grace := 30 // Kubernetes' default
		if g := d.Spec.Template.Spec.TerminationGracePeriodSeconds; g != nil {
			grace = *g
		}
		pause := 0
		if c.Lifecycle != nil && c.Lifecycle.PreStop != nil && c.Lifecycle.PreStop.Sleep != nil {
			pause = c.Lifecycle.PreStop.Sleep.Seconds
		}
		if float64(grace) <= drain.Seconds()+float64(pause) {
			p = append(p, fmt.Sprintf("%s: terminationGracePeriodSeconds %d <= SHUTDOWN_TIMEOUT %s + preStop %ds: the drain is cut short by SIGKILL", name, grace, drain, pause))
		}
	})
	return p
}

// checkK8sKeyFiles: each key file is projected from an existing Secret or
// ConfigMap key; private keys come from Secrets mounted by their user only.
func checkK8sKeyFiles(m *manifests, apps map[string]*app) []string {
	var p []string
	forEachApp(m, &p, func(name string, d *deployment, c *container) {
		env, _ := m.resolveEnv(c)
		for _, v := range sortedKeys(keyFileVars) {
			for _, path := range splitList(env[v]) {
				vol, key, ok := d.mountFor(c, path)
				if !ok {
					p = append(p, fmt.Sprintf("%s: %s = %s is in no mounted volume", name, v, path))
					continue
				}
				var data map[string]string
				var exists bool
				switch {
				case vol.Secret != nil:
					data, exists = m.Secrets[vol.Secret.SecretName]
				case vol.ConfigMap != nil:
					data, exists = m.ConfigMaps[vol.ConfigMap.Name]
					if keyFileVars[v] {
						p = append(p, fmt.Sprintf("%s: private %s comes from ConfigMap %s; use a Secret", name, v, vol.ConfigMap.Name))
					}
				default:
					p = append(p, fmt.Sprintf("%s: %s: volume %s is neither a Secret nor a ConfigMap", name, v, vol.Name))
					continue
				}
				if _, has := data[key]; !exists || !has {
					p = append(p, fmt.Sprintf("%s: %s = %s, but volume %s provides no key %q", name, v, path, vol.Name, key))
				}
				if keyFileVars[v] && vol.Secret != nil {
					p = append(p, secretSharers(m, name, vol.Secret.SecretName)...)
				}
			}
		}
	})
	return p
}

// secretSharers reports other Deployments that mount a private key Secret.
func secretSharers(m *manifests, owner, secret string) []string {
	var p []string
	for _, other := range sortedKeys(m.Deployments) {
		if other == owner {
			continue
		}
		for _, v := range m.Deployments[other].Spec.Template.Spec.Volumes {
			if v.Secret != nil && v.Secret.SecretName == secret {
				p = append(p, fmt.Sprintf("%s mounts Secret %s, %s's private key", other, secret, owner))
			}
		}
	}
	return p
}

// forEachApp runs fn for every service whose Deployment and container
// exist (their absence is reported by checkK8sDeployments).
func forEachApp(m *manifests, p *[]string, fn func(name string, d *deployment, c *container)) {
	for _, name := range appNames {
		d := m.Deployments[name]
		if d == nil {
			continue
		}
		if c, err := appContainer(d, name); err == nil {
			fn(name, d, c)
		}
	}
}
