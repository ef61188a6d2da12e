package deploy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// k8sNamespace is where every Parley object lives.
const k8sNamespace = "parley"

// manifests is every object under infra/k8s, indexed the way the checks
// look them up. Objects in *.example.yaml count as existing: they show what
// each site creates itself.
type manifests struct {
	Dir             string
	Files           []string // base names of the YAML files, kustomization.yaml included
	Objects         []*k8sObject
	Deployments     map[string]*deployment
	Services        map[string]*k8sService
	ConfigMaps      map[string]map[string]string
	Secrets         map[string]map[string]string
	NetworkPolicies []*networkPolicy
	Ingresses       []*ingress
	Kustomization   *kustomization
}

// k8sObject is the header every manifest has.
type k8sObject struct {
	File       string     `yaml:"-"`
	APIVersion string     `yaml:"apiVersion"`
	Kind       string     `yaml:"kind"`
	Metadata   objectMeta `yaml:"metadata"`
}

type objectMeta struct {
	Name      string            `yaml:"name"`
	Namespace string            `yaml:"namespace"`
	Labels    map[string]string `yaml:"labels"`
}

type labelSelector struct {
	MatchLabels      map[string]string `yaml:"matchLabels"`
	MatchExpressions []yaml.Node       `yaml:"matchExpressions"`
}

// selects reports whether the selector's labels are all in labels (an
// empty selector selects everything).
func (s *labelSelector) selects(labels map[string]string) bool {
	for k, v := range s.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	return true
}

type deployment struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Replicas *int          `yaml:"replicas"`
		Selector labelSelector `yaml:"selector"`
		Template struct {
			Metadata objectMeta `yaml:"metadata"`
			Spec     podSpec    `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func (d *deployment) podLabels() map[string]string { return d.Spec.Template.Metadata.Labels }

type podSpec struct {
	Containers                    []container      `yaml:"containers"`
	Volumes                       []volume         `yaml:"volumes"`
	SecurityContext               *securityContext `yaml:"securityContext"`
	TerminationGracePeriodSeconds *int             `yaml:"terminationGracePeriodSeconds"`
	HostNetwork                   bool             `yaml:"hostNetwork"`
}

type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	Privileged               *bool `yaml:"privileged"`
	Capabilities             *struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
}

type container struct {
	Name  string `yaml:"name"`
	Image string `yaml:"image"`
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
		HostPort      int    `yaml:"hostPort"`
	} `yaml:"ports"`
	Env            []envVar        `yaml:"env"`
	EnvFrom        []envFromSource `yaml:"envFrom"`
	VolumeMounts   []volumeMount   `yaml:"volumeMounts"`
	ReadinessProbe *probe          `yaml:"readinessProbe"`
	LivenessProbe  *probe          `yaml:"livenessProbe"`
	StartupProbe   *probe          `yaml:"startupProbe"`
	Lifecycle      *struct {
		PreStop *struct {
			Sleep *struct {
				Seconds int `yaml:"seconds"`
			} `yaml:"sleep"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	SecurityContext *securityContext `yaml:"securityContext"`
}

// port resolves a probe's or Service's named or numbered port to the
// container port number ("" when it names no port of the container).
func (c *container) port(p intOrString) string {
	for _, cp := range c.Ports {
		if string(p) == cp.Name || string(p) == strconv.Itoa(cp.ContainerPort) {
			return strconv.Itoa(cp.ContainerPort)
		}
	}
	return ""
}

type envVar struct {
	Name      string `yaml:"name"`
	Value     string `yaml:"value"`
	ValueFrom *struct {
		SecretKeyRef    *keyRef `yaml:"secretKeyRef"`
		ConfigMapKeyRef *keyRef `yaml:"configMapKeyRef"`
		FieldRef        *struct {
			FieldPath string `yaml:"fieldPath"`
		} `yaml:"fieldRef"`
		ResourceFieldRef *struct {
			Resource string `yaml:"resource"`
		} `yaml:"resourceFieldRef"`
	} `yaml:"valueFrom"`
}

type keyRef struct {
	Name string `yaml:"name"`
	Key  string `yaml:"key"`
}

type envFromSource struct {
	Prefix       string `yaml:"prefix"`
	ConfigMapRef *struct {
		Name string `yaml:"name"`
	} `yaml:"configMapRef"`
	SecretRef *struct {
		Name string `yaml:"name"`
	} `yaml:"secretRef"`
}

type volumeMount struct {
	Name      string `yaml:"name"`
	MountPath string `yaml:"mountPath"`
	SubPath   string `yaml:"subPath"`
}

type volume struct {
	Name   string `yaml:"name"`
	Secret *struct {
		SecretName string    `yaml:"secretName"`
		Items      []keyPath `yaml:"items"`
	} `yaml:"secret"`
	ConfigMap *struct {
		Name  string    `yaml:"name"`
		Items []keyPath `yaml:"items"`
	} `yaml:"configMap"`
}

type keyPath struct {
	Key  string `yaml:"key"`
	Path string `yaml:"path"`
}

type probe struct {
	HTTPGet *struct {
		Path string      `yaml:"path"`
		Port intOrString `yaml:"port"`
	} `yaml:"httpGet"`
}

// intOrString holds a port given by number or by name.
type intOrString string

func (p *intOrString) UnmarshalYAML(n *yaml.Node) error {
	*p = intOrString(n.Value)
	return nil
}

type k8sService struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		Type        string            `yaml:"type"`
		Selector    map[string]string `yaml:"selector"`
		ExternalIPs []string          `yaml:"externalIPs"`
		Ports       []struct {
			Name       string      `yaml:"name"`
			Port       int         `yaml:"port"`
			TargetPort intOrString `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type networkPolicy struct {
	Metadata objectMeta `yaml:"metadata"`
	Spec     struct {
		PodSelector labelSelector `yaml:"podSelector"`
		PolicyTypes []string      `yaml:"policyTypes"`
		Ingress     []npRule      `yaml:"ingress"`
	} `yaml:"spec"`
}

type npRule struct {
	From []struct {
		PodSelector       *labelSelector `yaml:"podSelector"`
		NamespaceSelector *labelSelector `yaml:"namespaceSelector"`
		IPBlock           *yaml.Node     `yaml:"ipBlock"`
	} `yaml:"from"`
	Ports []struct {
		Protocol string      `yaml:"protocol"`
		Port     intOrString `yaml:"port"`
	} `yaml:"ports"`
}

// restrictsIngress reports whether the policy governs ingress at all.
func (np *networkPolicy) restrictsIngress() bool {
	if len(np.Spec.PolicyTypes) == 0 {
		return true // defaulted to Ingress (plus Egress when egress rules exist)
	}
	for _, t := range np.Spec.PolicyTypes {
		if t == "Ingress" {
			return true
		}
	}
	return false
}

type ingress struct {
	Metadata objectMeta `yaml:"metadata"`
	Backends []string   `yaml:"-"` // every service.name anywhere in the spec
}

type kustomization struct {
	Resources []string `yaml:"resources"`
}

// loadManifests parses every YAML document under infra/k8s.
func loadManifests(t *testing.T, root string) *manifests {
	t.Helper()
	dir := filepath.Join(root, "infra", "k8s")
	m, err := parseManifests(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Deployments) == 0 {
		t.Fatalf("%s: no Deployments", dir)
	}
	return m
}

func parseManifests(dir string) (*manifests, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		return nil, err
	}
	sort.Strings(paths)
	m := &manifests{
		Dir: dir, Deployments: map[string]*deployment{}, Services: map[string]*k8sService{},
		ConfigMaps: map[string]map[string]string{}, Secrets: map[string]map[string]string{},
	}
	for _, path := range paths {
		base := filepath.Base(path)
		m.Files = append(m.Files, base)
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		dec := yaml.NewDecoder(f)
		for {
			var doc yaml.Node
			err := dec.Decode(&doc)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				f.Close()
				return nil, fmt.Errorf("%s: %w", base, err)
			}
			if err := m.add(base, &doc); err != nil {
				f.Close()
				return nil, fmt.Errorf("%s line %d: %w", base, doc.Line, err)
			}
		}
		f.Close()
	}
	return m, nil
}

func (m *manifests) add(file string, doc *yaml.Node) error {
	if len(doc.Content) == 0 {
		return nil // empty document between ---
	}
	var o k8sObject
	if err := doc.Decode(&o); err != nil {
		return err
	}
	o.File = file
	m.Objects = append(m.Objects, &o)
	name := o.Metadata.Name
	switch o.Kind {
	case "Kustomization":
		m.Kustomization = &kustomization{}
		return doc.Decode(m.Kustomization)
	case "Deployment":
		d := &deployment{}
		m.Deployments[name] = d
		return doc.Decode(d)
	case "Service":
		s := &k8sService{}
		m.Services[name] = s
		return doc.Decode(s)
	case "NetworkPolicy":
		np := &networkPolicy{}
		m.NetworkPolicies = append(m.NetworkPolicies, np)
		return doc.Decode(np)
	case "ConfigMap", "Secret":
		var kv struct {
			Data       map[string]string `yaml:"data"`
			StringData map[string]string `yaml:"stringData"`
		}
		if err := doc.Decode(&kv); err != nil {
			return err
		}
		data := map[string]string{}
		for k, v := range kv.Data {
			data[k] = v
		}
		for k, v := range kv.StringData {
			data[k] = v
		}
		if o.Kind == "Secret" {
			m.Secrets[name] = data
		} else {
			m.ConfigMaps[name] = data
		}
	case "Ingress":
		in := &ingress{Metadata: o.Metadata}
		collectBackends(doc, &in.Backends)
		m.Ingresses = append(m.Ingresses, in)
	}
	return nil
}

// collectBackends finds every `service: {name: X}` below n.
func collectBackends(n *yaml.Node, out *[]string) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value == "service" && v.Kind == yaml.MappingNode {
				var s struct {
					Name string `yaml:"name"`
				}
				if v.Decode(&s) == nil && s.Name != "" {
					*out = append(*out, s.Name)
				}
			}
		}
	}
	for _, c := range n.Content {
		collectBackends(c, out)
	}
}

// appContainer returns the Deployment's container for the service.
func appContainer(d *deployment, name string) (*container, error) {
	cs := d.Spec.Template.Spec.Containers
	for i := range cs {
		if cs[i].Name == name {
			return &cs[i], nil
		}
	}
	return nil, fmt.Errorf("deployment %s: no container named %s", d.Metadata.Name, name)
}

// resolveEnv computes the container's environment as the kubelet would:
// envFrom first, env on top; references must resolve.
func (m *manifests) resolveEnv(c *container) (map[string]string, []string) {
	env := map[string]string{}
	var p []string
	for _, from := range c.EnvFrom {
		var data map[string]string
		var ok bool
		switch {
		case from.ConfigMapRef != nil:
			data, ok = m.ConfigMaps[from.ConfigMapRef.Name]
			if !ok {
				p = append(p, fmt.Sprintf("envFrom ConfigMap %s does not exist", from.ConfigMapRef.Name))
			}
		case from.SecretRef != nil:
			data, ok = m.Secrets[from.SecretRef.Name]
			if !ok {
				p = append(p, fmt.Sprintf("envFrom Secret %s does not exist", from.SecretRef.Name))
			}
		}
		for k, v := range data {
			env[from.Prefix+k] = v
		}
	}
	for _, e := range c.Env {
		vf := e.ValueFrom
		switch {
		case vf == nil:
			env[e.Name] = e.Value
		case vf.SecretKeyRef != nil:
			v, problem := lookup(m.Secrets, "Secret", vf.SecretKeyRef)
			env[e.Name] = v
			if problem != "" {
				p = append(p, e.Name+": "+problem)
			}
		case vf.ConfigMapKeyRef != nil:
			v, problem := lookup(m.ConfigMaps, "ConfigMap", vf.ConfigMapKeyRef)
			env[e.Name] = v
			if problem != "" {
				p = append(p, e.Name+": "+problem)
			}
		case vf.FieldRef != nil:
			env[e.Name] = "<" + vf.FieldRef.FieldPath + ">"
		case vf.ResourceFieldRef != nil:
			env[e.Name] = "<" + vf.ResourceFieldRef.Resource + ">"
		}
	}
	return env, p
}

func lookup(objs map[string]map[string]string, kind string, ref *keyRef) (string, string) {
	data, ok := objs[ref.Name]
	if !ok {
		return "", fmt.Sprintf("%s %s does not exist", kind, ref.Name)
	}
	v, ok := data[ref.Key]
	if !ok {
		return "", fmt.Sprintf("%s %s has no key %s", kind, ref.Name, ref.Key)
	}
	return v, ""
}

// mountFor returns the volume whose mount contains path, and the key the
// file is projected from.
func (d *deployment) mountFor(c *container, path string) (*volume, string, bool) {
	for _, vm := range c.VolumeMounts {
		rel, ok := strings.CutPrefix(path, strings.TrimSuffix(vm.MountPath, "/")+"/")
		if !ok || vm.SubPath != "" {
			continue
		}
		for i := range d.Spec.Template.Spec.Volumes {
			v := &d.Spec.Template.Spec.Volumes[i]
			if v.Name != vm.Name {
				continue
			}
			var items []keyPath
			switch {
			case v.Secret != nil:
				items = v.Secret.Items
			case v.ConfigMap != nil:
				items = v.ConfigMap.Items
			}
			for _, it := range items {
				if it.Path == rel {
					return v, it.Key, true
				}
			}
			if len(items) > 0 {
				return v, "", true // projected, but not this file
			}
			return v, rel, true
		}
	}
	return nil, "", false
}
