package deploy

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// checkK8sServices: each service has a Service reaching exactly its pods on
// its port; only the gateway is exposed outside the cluster, and it is.
func checkK8sServices(m *manifests, apps map[string]*app) []string {
	var p []string
	exposed := false
	for _, sn := range sortedKeys(m.Services) {
		s := m.Services[sn]
		external := s.Spec.Type == "LoadBalancer" || s.Spec.Type == "NodePort" || len(s.Spec.ExternalIPs) > 0
		selectsGateway := m.Deployments[gatewayName] != nil && selectsPods(s, m.Deployments[gatewayName])
		if external && !selectsGateway {
			p = append(p, fmt.Sprintf("Service %s (type %s) is reachable from outside; only the gateway may be", sn, s.Spec.Type))
		}
		exposed = exposed || (external && selectsGateway)
	}
	for _, in := range m.Ingresses {
		for _, b := range in.Backends {
			if b != gatewayName {
				p = append(p, fmt.Sprintf("Ingress %s routes to %s; only the gateway may be exposed", in.Metadata.Name, b))
			}
			exposed = exposed || b == gatewayName
		}
	}
	if !exposed {
		p = append(p, "the gateway is not exposed (no LoadBalancer/NodePort Service or Ingress reaches it)")
	}
	forEachApp(m, &p, func(name string, d *deployment, c *container) {
		s, ok := m.Services[name]
		if !ok {
			p = append(p, "no Service "+name)
			return
		}
		for _, other := range appNames {
			if od := m.Deployments[other]; od != nil && (other == name) != selectsPods(s, od) {
				p = append(p, fmt.Sprintf("Service %s selector %v: selects %s's pods = %v", name, s.Spec.Selector, other, other != name))
			}
		}
		env, _ := m.resolveEnv(c)
		port := portOf(apps[name].withImageEnv(env)["HTTP_ADDR"])
		for _, sp := range s.Spec.Ports {
			target := sp.TargetPort
			if target == "" {
				target = intOrString(strconv.Itoa(sp.Port))
			}
			if c.port(target) != port {
				p = append(p, fmt.Sprintf("Service %s port %d targets %q, not the port %s listens on (%s)", name, sp.Port, target, name, port))
			}
		}
	})
	return p
}

func selectsPods(s *k8sService, d *deployment) bool {
	if len(s.Spec.Selector) == 0 {
		return false // selects nothing: endpoints are managed by hand
	}
	sel := labelSelector{MatchLabels: s.Spec.Selector}
	return sel.selects(d.podLabels())
}

// checkK8sUpstreams: the gateway's service URLs name the right Service on
// a port it serves.
func checkK8sUpstreams(m *manifests, apps map[string]*app) []string {
	var p []string
	d := m.Deployments[gatewayName]
	if d == nil {
		return nil // reported by checkK8sDeployments
	}
	c, err := appContainer(d, gatewayName)
	if err != nil {
		return nil
	}
	env, _ := m.resolveEnv(c)
	env = apps[gatewayName].withImageEnv(env)
	for _, v := range sortedKeys(upstreamVars) {
		target := upstreamVars[v]
		u, err := url.Parse(env[v])
		if err != nil || u.Host == "" {
			p = append(p, fmt.Sprintf("gateway: %s = %q is not a URL", v, env[v]))
			continue
		}
		host := u.Hostname()
		svc := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(host, ".svc.cluster.local"), ".svc"), "."+k8sNamespace)
		s, ok := m.Services[svc]
		if !ok || svc != target {
			p = append(p, fmt.Sprintf("gateway: %s host %q, want the Service %s", v, host, target))
			continue
		}
		portOK := false
		for _, sp := range s.Spec.Ports {
			portOK = portOK || strconv.Itoa(sp.Port) == u.Port()
		}
		if !portOK {
			p = append(p, fmt.Sprintf("gateway: %s port %q is not a port of Service %s", v, u.Port(), svc))
		}
	}
	return p
}
