package deploy

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// composeFile is the part of the Compose spec these checks read; yaml.v3
// resolves anchors and `<<` merge keys as Compose does.
type composeFile struct {
	Dir      string                     `yaml:"-"` // folder of the file: relative paths resolve from it
	Services map[string]*composeService `yaml:"services"`
	Networks map[string]*composeNetwork `yaml:"networks"`
	Configs  map[string]*composeConfig  `yaml:"configs"`
}

type composeService struct {
	Image           string             `yaml:"image"`
	Build           *composeBuild      `yaml:"build"`
	Environment     envMap             `yaml:"environment"`
	Ports           []yaml.Node        `yaml:"ports"`
	Volumes         []composeMount     `yaml:"volumes"`
	DependsOn       dependsOn          `yaml:"depends_on"`
	Healthcheck     *composeHealth     `yaml:"healthcheck"`
	Networks        stringsOrKeys      `yaml:"networks"`
	NetworkMode     string             `yaml:"network_mode"`
	StopGracePeriod string             `yaml:"stop_grace_period"`
	Restart         string             `yaml:"restart"`
	Entrypoint      stringsOrString    `yaml:"entrypoint"`
	Command         stringsOrString    `yaml:"command"`
	Configs         []composeConfigRef `yaml:"configs"`
}

type composeBuild struct {
	Context    string            `yaml:"context"`
	Dockerfile string            `yaml:"dockerfile"`
	Args       map[string]string `yaml:"args"`
}

type composeHealth struct {
	Test    stringsOrString `yaml:"test"`
	Disable bool            `yaml:"disable"`
}

type composeNetwork struct {
	Internal bool `yaml:"internal"`
}

type composeConfig struct {
	Content string `yaml:"content"`
	File    string `yaml:"file"`
}

type composeConfigRef struct {
	Source string `yaml:"source"`
	Target string `yaml:"target"`
}

// composeMount is a volume entry, short ("src:/target:ro") or long form.
type composeMount struct {
	Source   string `yaml:"source"`
	Target   string `yaml:"target"`
	ReadOnly bool   `yaml:"read_only"`
}

func (m *composeMount) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		parts := strings.Split(n.Value, ":")
		switch len(parts) {
		case 1:
			m.Target = parts[0]
		default:
			m.Source, m.Target = parts[0], parts[1]
			m.ReadOnly = len(parts) > 2 && strings.Contains(parts[2], "ro")
		}
		return nil
	}
	type plain composeMount
	return n.Decode((*plain)(m))
}

// envMap accepts the map and the list ("K=V") forms of `environment`.
type envMap map[string]string

func (e *envMap) UnmarshalYAML(n *yaml.Node) error {
	*e = envMap{}
	switch n.Kind {
	case yaml.MappingNode:
		var m map[string]any
		if err := n.Decode(&m); err != nil {
			return err
		}
		for k, v := range m {
			if v == nil {
				(*e)[k] = ""
			} else {
				(*e)[k] = fmt.Sprint(v)
			}
		}
	case yaml.SequenceNode:
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, kv := range l {
			k, v, _ := strings.Cut(kv, "=")
			(*e)[k] = v
		}
	default:
		return fmt.Errorf("line %d: environment must be a map or a list", n.Line)
	}
	return nil
}

// dependsOn accepts the list form (condition service_started) and the map form.
type dependsOn map[string]string

func (d *dependsOn) UnmarshalYAML(n *yaml.Node) error {
	*d = dependsOn{}
	if n.Kind == yaml.SequenceNode {
		var l []string
		if err := n.Decode(&l); err != nil {
			return err
		}
		for _, s := range l {
			(*d)[s] = "service_started"
		}
		return nil
	}
	var m map[string]struct {
		Condition string `yaml:"condition"`
	}
	if err := n.Decode(&m); err != nil {
		return err
	}
	for k, v := range m {
		c := v.Condition
		if c == "" {
			c = "service_started"
		}
		(*d)[k] = c
	}
	return nil
}

// stringsOrKeys accepts a list of names or a map keyed by name (networks).
type stringsOrKeys []string

func (s *stringsOrKeys) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.MappingNode {
		for i := 0; i < len(n.Content); i += 2 {
			*s = append(*s, n.Content[i].Value)
		}
		return nil
	}
	var l []string
	err := n.Decode(&l)
	*s = l
	return err
}

// stringsOrString accepts a list or one string (command, entrypoint, test).
type stringsOrString []string

func (s *stringsOrString) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		*s = []string{n.Value}
		return nil
	}
	var l []string
	err := n.Decode(&l)
	*s = l
	return err
}

// publishes reports whether the service has a `ports:` entry.
func (s *composeService) publishes() bool { return len(s.Ports) > 0 }

// publishedContainerPorts returns the container side of each ports entry.
func (s *composeService) publishedContainerPorts() []string {
	var out []string
	for _, p := range s.Ports {
		if p.Kind == yaml.MappingNode {
			var long struct {
				Target string `yaml:"target"`
			}
			_ = p.Decode(&long)
			out = append(out, long.Target)
			continue
		}
		v := interpolate(p.Value)
		v, _, _ = strings.Cut(v, "/")
		out = append(out, v[strings.LastIndex(v, ":")+1:])
	}
	return out
}

// mountFor returns the mount whose target contains path.
func (s *composeService) mountFor(path string) (composeMount, bool) {
	for _, m := range s.Volumes {
		if strings.HasPrefix(path, strings.TrimSuffix(m.Target, "/")+"/") {
			return m, true
		}
	}
	return composeMount{}, false
}

// env returns the service's variables with Compose's defaults interpolated.
func (s *composeService) env() map[string]string {
	out := make(map[string]string, len(s.Environment))
	for k, v := range s.Environment {
		out[k] = interpolate(v)
	}
	return out
}

var interpolation = regexp.MustCompile(`\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)`)

// interpolate resolves ${VAR:-default} as `docker compose` would with none
// of the variables set: the checks see what a plain `up` deploys.
func interpolate(s string) string {
	return interpolation.ReplaceAllStringFunc(s, func(m string) string {
		if m == "$$" {
			return "$"
		}
		sub := interpolation.FindStringSubmatch(m)
		if sub[2] == "-" || sub[2] == ":-" {
			return sub[3]
		}
		return ""
	})
}

// loadCompose parses infra/compose.yaml.
func loadCompose(t *testing.T, root string) *composeFile {
	t.Helper()
	path := filepath.Join(root, "infra", "compose.yaml")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var c composeFile
	if err := yaml.Unmarshal(b, &c); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if len(c.Services) == 0 {
		t.Fatalf("%s: no services", path)
	}
	c.Dir = filepath.Dir(path)
	return &c
}
