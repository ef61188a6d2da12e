package deploy

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

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
