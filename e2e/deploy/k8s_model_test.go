package deploy

import (
	"strconv"

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
