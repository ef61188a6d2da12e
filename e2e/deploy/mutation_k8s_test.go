package deploy

import "testing"

type k8sMutation struct {
	check, name string
	mutate      func(m *manifests)
	want        string
}

var k8sMutations = []k8sMutation{
	{"objects", "wrong namespace", func(m *manifests) { m.Objects[len(m.Objects)-1].Metadata.Namespace = "default" }, `namespace "default"`},
	{"objects", "unnamed object", func(m *manifests) { m.Objects[len(m.Objects)-1].Metadata.Name = "" }, "without apiVersion, kind or metadata.name"},
	{"objects", "no namespace object", func(m *manifests) { drop(m, "Namespace") }, "no Namespace parley"},
	{"kustomization", "manifest left out", func(m *manifests) {
		m.Kustomization.Resources = m.Kustomization.Resources[:len(m.Kustomization.Resources)-1]
	}, "does not list"},
	{"kustomization", "placeholders applied", func(m *manifests) {
		m.Kustomization.Resources = append(m.Kustomization.Resources, "secrets.example.yaml")
	}, "would overwrite real secrets"},
	{"kustomization", "missing file", func(m *manifests) { m.Kustomization.Resources = append(m.Kustomization.Resources, "ingress.yaml") }, "ingress.yaml, which does not exist"},
	{"deployments", "one gateway", func(m *manifests) { one := 1; m.Deployments["gateway"].Spec.Replicas = &one }, "gateway: 1 replicas, want at least 2"},
	{"deployments", "missing deployment", func(m *manifests) { delete(m.Deployments, "user-service") }, "no Deployment user-service"},
	{"deployments", "selector misses the pods", func(m *manifests) {
		m.Deployments["chat-service"].Spec.Selector.MatchLabels = map[string]string{"app": "chat"}
	}, "does not match its pod labels"},
	{"deployments", "stale image", func(m *manifests) { ctr(m, "auth-service").Image = "parley/auth-service:latest" }, `want "parley/auth-service:0.1.0"`},
	{"deployments", "renamed container", func(m *manifests) { ctr(m, "user-service").Name = "app" }, "no container named user-service"},
	{"env", "required variable missing", func(m *manifests) { delEnv(ctr(m, "chat-service"), "AMQP_URL") }, "required AMQP_URL is not set"},
	{"env", "reference to a missing Secret", func(m *manifests) { delete(m.Secrets, "user-service-db") }, "Secret user-service-db does not exist"},
	{"env", "reference to a missing key", func(m *manifests) { delete(m.Secrets["parley-amqp"], "AMQP_URL") }, "has no key AMQP_URL"},
	{"env", "envFrom a missing ConfigMap", func(m *manifests) { delete(m.ConfigMaps, "gateway-config") }, "envFrom ConfigMap gateway-config does not exist"},
	{"env", "misspelt variable", func(m *manifests) { setEnv(ctr(m, "auth-service"), "SESSION_SIGNING_KEYS", "/x") }, "SESSION_SIGNING_KEYS, which its config does not read"},
	{"env", "loopback listen address", func(m *manifests) { setEnv(ctr(m, "user-service"), "HTTP_ADDR", "127.0.0.1:8082") }, "only reachable from inside"},
	{"env", "both signing key forms", func(m *manifests) { setEnv(ctr(m, "auth-service"), "SESSION_SIGNING_KEY_PEM", "pem") }, "exactly one of"},
	{"probes", "readiness on /healthz", func(m *manifests) { ctr(m, "gateway").ReadinessProbe.HTTPGet.Path = "/healthz" }, "readinessProbe asks /healthz, want /readyz"},
	{"probes", "no liveness probe", func(m *manifests) { ctr(m, "chat-service").LivenessProbe = nil }, "no HTTP livenessProbe"},
	{"probes", "probe on an unknown port", func(m *manifests) { ctr(m, "auth-service").LivenessProbe.HTTPGet.Port = "metrics" }, `livenessProbe port "metrics"`},
	{"security", "writable root", func(m *manifests) { f := false; ctr(m, "gateway").SecurityContext.ReadOnlyRootFilesystem = &f }, "readOnlyRootFilesystem"},
	{"security", "root allowed", func(m *manifests) {
		ctr(m, "user-service").SecurityContext.RunAsNonRoot = nil
		m.Deployments["user-service"].Spec.Template.Spec.SecurityContext = nil
	}, "runAsNonRoot"},
	{"security", "privilege escalation", func(m *manifests) { ctr(m, "chat-service").SecurityContext.AllowPrivilegeEscalation = nil }, "allowPrivilegeEscalation"},
	{"security", "capabilities kept", func(m *manifests) { ctr(m, "auth-service").SecurityContext.Capabilities = nil }, "drop ALL"},
	{"security", "host port", func(m *manifests) { ctr(m, "auth-service").Ports[0].HostPort = 8081 }, "hostPort 8081"},
	{"security", "host network", func(m *manifests) { m.Deployments["chat-service"].Spec.Template.Spec.HostNetwork = true }, "hostNetwork"},
	{"security", "no memory limit", func(m *manifests) { delete(ctr(m, "gateway").Resources.Limits, "memory") }, "memory request and limit"},
	{"grace", "grace shorter than the drain", func(m *manifests) {
		g := 15
		m.Deployments["gateway"].Spec.Template.Spec.TerminationGracePeriodSeconds = &g
	}, "terminationGracePeriodSeconds 15"},
	{"grace", "default grace with a long drain", func(m *manifests) {
		m.Deployments["user-service"].Spec.Template.Spec.TerminationGracePeriodSeconds = nil
		m.ConfigMaps["parley-config"]["SHUTDOWN_TIMEOUT"] = "30s"
	}, "user-service: terminationGracePeriodSeconds 30"},
	{"key files", "key outside any mount", func(m *manifests) { setEnv(ctr(m, "auth-service"), "SESSION_SIGNING_KEY", "/keys/other/session.pem") }, "is in no mounted volume"},
	{"key files", "key file not in the Secret", func(m *manifests) { setEnv(ctr(m, "gateway"), "INTERNAL_SIGNING_KEY", "/keys/internal/gateway.pem") }, `provides no key "gateway.pem"`},
	{"key files", "private key from a ConfigMap", func(m *manifests) { setEnv(ctr(m, "gateway"), "INTERNAL_SIGNING_KEY", "/keys/public/internal.pub.pem") }, "use a Secret"},
	{"key files", "private key shared", func(m *manifests) {
		ps := &m.Deployments["user-service"].Spec.Template.Spec
		ps.Volumes = append(ps.Volumes, m.Deployments["auth-service"].Spec.Template.Spec.Volumes[0])
	}, "user-service mounts Secret parley-session-signing-key"},
	{"services", "backend behind a load balancer", func(m *manifests) { m.Services["user-service"].Spec.Type = "LoadBalancer" }, "Service user-service (type LoadBalancer) is reachable from outside"},
	{"services", "backend on a node port", func(m *manifests) { m.Services["auth-service"].Spec.Type = "NodePort" }, "Service auth-service (type NodePort)"},
	{"services", "gateway not exposed", func(m *manifests) { m.Services["gateway"].Spec.Type = "ClusterIP" }, "the gateway is not exposed"},
	{"services", "Ingress to a backend", func(m *manifests) {
		m.Ingresses = append(m.Ingresses, &ingress{Metadata: objectMeta{Name: "chat"}, Backends: []string{"chat-service"}})
	}, "Ingress chat routes to chat-service"},
	{"services", "selector too wide", func(m *manifests) {
		m.Services["chat-service"].Spec.Selector = map[string]string{"app.kubernetes.io/part-of": "parley"}
	}, "Service chat-service selector"},
	{"services", "wrong target port", func(m *manifests) { m.Services["user-service"].Spec.Ports[0].TargetPort = "8080" }, `targets "8080"`},
	{"services", "missing service", func(m *manifests) { delete(m.Services, "auth-service") }, "no Service auth-service"},
	{"upstreams", "upstream to the wrong service", func(m *manifests) { setEnv(ctr(m, "gateway"), "AUTH_URL", "http://user-service:8082") }, "want the Service auth-service"},
	{"upstreams", "upstream on a port the Service lacks", func(m *manifests) {
		setEnv(ctr(m, "gateway"), "CHAT_URL", "http://chat-service.parley.svc.cluster.local")
	}, "is not a port of Service chat-service"},
	{"network policies", "no default deny", func(m *manifests) { m.NetworkPolicies = m.NetworkPolicies[1:] }, "no default-deny ingress"},
	{"network policies", "backend open to the namespace", func(m *manifests) {
		policy(m, "chat-service-from-gateway").Spec.Ingress[0].From[0].PodSelector.MatchLabels = map[string]string{"app.kubernetes.io/part-of": "parley"}
	}, "also admits auth-service's pods"},
	{"network policies", "backend open to everyone", func(m *manifests) { policy(m, "auth-service-from-gateway").Spec.Ingress[0].From = nil }, "without `from` admits every source"},
	{"network policies", "backend open to another namespace", func(m *manifests) {
		policy(m, "user-service-from-gateway").Spec.Ingress[0].From[0].NamespaceSelector = &labelSelector{}
	}, "namespaceSelector"},
	{"network policies", "backend admits the wrong pods", func(m *manifests) {
		policy(m, "user-service-from-gateway").Spec.Ingress[0].From[0].PodSelector.MatchLabels = map[string]string{"app.kubernetes.io/name": "chat-service"}
	}, "does not select the gateway's pods"},
	{"network policies", "extra port", func(m *manifests) { policy(m, "chat-service-from-gateway").Spec.Ingress[0].Ports[0].Port = "9090" }, `opens port "9090"`},
	{"network policies", "no policy for a backend", func(m *manifests) { dropPolicy(m, "auth-service-from-gateway") }, "auth-service: no NetworkPolicy admits the gateway"},
	{"network policies", "gateway closed", func(m *manifests) { dropPolicy(m, "gateway-ingress") }, "gateway: no NetworkPolicy admits traffic from anywhere"},
}

func TestKubernetesChecksCatchMistakes(t *testing.T) {
	root := repoRoot(t)
	apps := loadApps(t, root)
	covered := map[string]bool{}
	for _, mu := range k8sMutations {
		covered[mu.check] = true
		t.Run(mu.check+"/"+mu.name, func(t *testing.T) {
			check, ok := k8sChecks[mu.check]
			if !ok {
				t.Fatalf("no Kubernetes check %q", mu.check)
			}
			m := loadManifests(t, root)
			if p := check(m, apps); len(p) > 0 {
				t.Fatalf("before the mutation the check already fails: %q", p)
			}
			mu.mutate(m)
			assertReported(t, check(m, apps), mu.want)
		})
	}
	for _, name := range sortedKeys(k8sChecks) {
		if !covered[name] {
			t.Errorf("Kubernetes check %q has no mutation proving it can fail", name)
		}
	}
}

func ctr(m *manifests, name string) *container {
	c, err := appContainer(m.Deployments[name], name)
	if err != nil {
		panic(err)
	}
	return c
}

func setEnv(c *container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i] = envVar{Name: name, Value: value}
			return
		}
	}
	c.Env = append(c.Env, envVar{Name: name, Value: value})
}

func delEnv(c *container, name string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env = append(c.Env[:i], c.Env[i+1:]...)
			return
		}
	}
	panic("no env " + name)
}

func drop(m *manifests, kind string) {
	var keep []*k8sObject
	for _, o := range m.Objects {
		if o.Kind != kind {
			keep = append(keep, o)
		}
	}
	m.Objects = keep
}

func policy(m *manifests, name string) *networkPolicy {
	for _, np := range m.NetworkPolicies {
		if np.Metadata.Name == name {
			return np
		}
	}
	panic("no NetworkPolicy " + name)
}

func dropPolicy(m *manifests, name string) {
	var keep []*networkPolicy
	for _, np := range m.NetworkPolicies {
		if np.Metadata.Name != name {
			keep = append(keep, np)
		}
	}
	m.NetworkPolicies = keep
}
