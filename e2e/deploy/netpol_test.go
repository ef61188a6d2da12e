package deploy

import (
	"fmt"
	"strconv"
)

// checkK8sNetworkPolicies: ingress is denied by default; each backend
// service admits only gateway pods, only on its HTTP port; the gateway
// admits anyone on its port. NetworkPolicies add up, so every policy that
// selects a pod is taken into account.
func checkK8sNetworkPolicies(m *manifests, apps map[string]*app) []string {
	var p []string
	denyAll := false
	for _, np := range m.NetworkPolicies {
		if len(np.Spec.PodSelector.MatchLabels) == 0 && len(np.Spec.PodSelector.MatchExpressions) == 0 &&
			np.restrictsIngress() && len(np.Spec.Ingress) == 0 {
			denyAll = true
		}
	}
	if !denyAll {
		p = append(p, "no default-deny ingress NetworkPolicy (podSelector {}, policyTypes [Ingress], no rules)")
	}
	gw := m.Deployments[gatewayName]
	forEachApp(m, &p, func(name string, d *deployment, c *container) {
		env, _ := m.resolveEnv(c)
		port := portOf(apps[name].withImageEnv(env)["HTTP_ADDR"])
		var rules []npRule
		for _, np := range m.NetworkPolicies {
			if len(np.Spec.PodSelector.MatchExpressions) > 0 {
				p = append(p, fmt.Sprintf("NetworkPolicy %s: matchExpressions are not checked here; use matchLabels", np.Metadata.Name))
				continue
			}
			if np.restrictsIngress() && np.Spec.PodSelector.selects(d.podLabels()) {
				rules = append(rules, np.Spec.Ingress...)
			}
		}
		if name == gatewayName {
			if !admitsAnyoneOn(rules, c, port) {
				p = append(p, fmt.Sprintf("gateway: no NetworkPolicy admits traffic from anywhere on port %s", port))
			}
			return
		}
		if len(rules) == 0 {
			p = append(p, fmt.Sprintf("%s: no NetworkPolicy admits the gateway", name))
		}
		for _, r := range rules {
			p = append(p, backendRuleProblems(m, name, r, c, port, gw)...)
		}
	})
	return p
}

// backendRuleProblems explains how rule r lets in more than gateway pods on
// port, or misses them.
func backendRuleProblems(m *manifests, name string, r npRule, c *container, port string, gw *deployment) []string {
	var p []string
	if len(r.From) == 0 {
		p = append(p, fmt.Sprintf("%s: a NetworkPolicy rule without `from` admits every source", name))
	}
	for _, peer := range r.From {
		switch {
		case peer.IPBlock != nil:
			p = append(p, fmt.Sprintf("%s: a NetworkPolicy admits an ipBlock; only gateway pods may reach it", name))
		case peer.NamespaceSelector != nil:
			p = append(p, fmt.Sprintf("%s: a NetworkPolicy admits by namespaceSelector; only gateway pods (same namespace) may reach it", name))
		case peer.PodSelector == nil || len(peer.PodSelector.MatchLabels) == 0:
			p = append(p, fmt.Sprintf("%s: a NetworkPolicy admits every pod of the namespace", name))
		case len(peer.PodSelector.MatchExpressions) > 0:
			p = append(p, fmt.Sprintf("%s: a NetworkPolicy peer uses matchExpressions, which this check cannot evaluate", name))
		default:
			if gw == nil || !peer.PodSelector.selects(gw.podLabels()) {
				p = append(p, fmt.Sprintf("%s: NetworkPolicy peer %v does not select the gateway's pods", name, peer.PodSelector.MatchLabels))
			}
			for _, other := range sortedKeys(m.Deployments) {
				if other != gatewayName && peer.PodSelector.selects(m.Deployments[other].podLabels()) {
					p = append(p, fmt.Sprintf("%s: NetworkPolicy peer %v also admits %s's pods", name, peer.PodSelector.MatchLabels, other))
				}
			}
		}
	}
	if len(r.Ports) == 0 {
		p = append(p, fmt.Sprintf("%s: a NetworkPolicy rule without ports opens every port", name))
	}
	for _, rp := range r.Ports {
		if got := npPort(rp.Port, c); got != port {
			p = append(p, fmt.Sprintf("%s: a NetworkPolicy opens port %q; it serves only %s", name, rp.Port, port))
		}
	}
	return p
}

// admitsAnyoneOn reports whether some rule admits every source on port.
func admitsAnyoneOn(rules []npRule, c *container, port string) bool {
	for _, r := range rules {
		if len(r.From) != 0 {
			continue
		}
		if len(r.Ports) == 0 {
			return true
		}
		for _, rp := range r.Ports {
			if npPort(rp.Port, c) == port {
				return true
			}
		}
	}
	return false
}

// npPort resolves a NetworkPolicy port (number or the container's port
// name) to a number.
func npPort(p intOrString, c *container) string {
	if _, err := strconv.Atoi(string(p)); err == nil {
		return string(p)
	}
	return c.port(p)
}
