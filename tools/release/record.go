package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
)

// SharedModule is the library every service requires; Services are the
// modules released with a binary and an image.
const (
	SharedModule = "shared"
	sharedPath   = "github.com/parleychat/parley/shared"
)

// Services are the modules that ship a binary (cmd/<name>) and an image.
var Services = []string{"gateway", "auth-service", "user-service", "chat-service"}

// Release is the record of one released version of a module.
type Release struct {
	Version string `json:"version"`          // semantic version, without "v"
	Commit  string `json:"commit"`           // the main-branch commit built
	Date    string `json:"date"`             // that commit's time (RFC 3339, UTC)
	Shared  string `json:"shared,omitempty"` // version of shared required (services)
	Go      string `json:"go,omitempty"`     // toolchain that built the binary
	Image   *Image `json:"image,omitempty"`  // services only
	Tag     string `json:"tag"`              // the git tag naming this release
}

// Image describes the OCI image of a service release.
type Image struct {
	Digest   string `json:"digest"`   // manifest digest (sha256:…)
	Platform string `json:"platform"` // linux/amd64
	Binary   string `json:"binary"`   // sha256 of the binary inside
}

// Record is releases/<module>.json: every release of one module, oldest first.
type Record struct {
	Module   string    `json:"module"`
	Releases []Release `json:"releases"`
}

var semver = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)

// recordPath is where the record of module lives under the repository root.
func recordPath(root, module string) string {
	return filepath.Join(root, "releases", module+".json")
}

// LoadRecord reads the record of module; a module never released has an
// empty one.
func LoadRecord(root, module string) (Record, error) {
	raw, err := os.ReadFile(recordPath(root, module))
	if errors.Is(err, fs.ErrNotExist) {
		return Record{Module: module}, nil
	}
	if err != nil {
		return Record{}, err
	}
	var r Record
	if err := json.Unmarshal(raw, &r); err != nil {
		return Record{}, fmt.Errorf("%s: %v", recordPath(root, module), err)
	}
	if r.Module != module {
		return Record{}, fmt.Errorf("%s: module %q, want %q", recordPath(root, module), r.Module, module)
	}
	return r, nil
}

// Save writes the record, indented, with a final newline.
func (r Record) Save(root string) error {
	raw, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(root, "releases"), 0o755); err != nil {
		return err
	}
	return os.WriteFile(recordPath(root, r.Module), append(raw, '\n'), 0o644)
}

// Find returns the release of version, if recorded.
func (r Record) Find(version string) (Release, bool) {
	for _, rel := range r.Releases {
		if rel.Version == version {
			return rel, true
		}
	}
	return Release{}, false
}

// Latest returns the newest release, if any.
func (r Record) Latest() (Release, bool) {
	if len(r.Releases) == 0 {
		return Release{}, false
	}
	return r.Releases[len(r.Releases)-1], true
}

// requiredShared reads the version of shared a go.mod requires ("" if none).
func requiredShared(gomod []byte) string {
	for line := range strings.Lines(string(gomod)) {
		f := strings.Fields(strings.TrimSpace(line))
		if len(f) >= 2 && f[0] == "require" {
			f = f[1:]
		}
		if len(f) >= 2 && f[0] == sharedPath {
			return strings.TrimPrefix(f[1], "v")
		}
	}
	return ""
}

// Check verifies the release records against the working tree: every module
// that requires shared requires a released version of it, every record is
// well formed, and every service release names a released shared.
func Check(root string) error {
	var problems []string
	shared, err := LoadRecord(root, SharedModule)
	if err != nil {
		return err
	}
	records := map[string]Record{SharedModule: shared}
	for _, m := range Services {
		r, err := LoadRecord(root, m)
		if err != nil {
			return err
		}
		records[m] = r
	}
	for m, r := range records {
		seen := map[string]bool{}
		for _, rel := range r.Releases {
			switch {
			case !semver.MatchString(rel.Version):
				problems = append(problems, fmt.Sprintf("releases/%s.json: version %q is not MAJOR.MINOR.PATCH", m, rel.Version))
			case seen[rel.Version]:
				problems = append(problems, fmt.Sprintf("releases/%s.json: version %s recorded twice", m, rel.Version))
			case len(rel.Commit) != 40:
				problems = append(problems, fmt.Sprintf("releases/%s.json: %s has no full commit id", m, rel.Version))
			case m != SharedModule && (rel.Image == nil || !strings.HasPrefix(rel.Image.Digest, "sha256:")):
				problems = append(problems, fmt.Sprintf("releases/%s.json: %s has no image digest", m, rel.Version))
			case m != SharedModule:
				if _, ok := shared.Find(rel.Shared); !ok {
					problems = append(problems, fmt.Sprintf("releases/%s.json: %s requires shared %q, which has no release record", m, rel.Version, rel.Shared))
				}
			}
			seen[rel.Version] = true
		}
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return err
	}
	for _, e := range entries {
		gomod, err := os.ReadFile(filepath.Join(root, e.Name(), "go.mod"))
		if !e.IsDir() || err != nil || e.Name() == SharedModule {
			continue
		}
		v := requiredShared(gomod)
		if v == "" {
			continue
		}
		if _, ok := shared.Find(v); !ok {
			problems = append(problems, fmt.Sprintf("%s/go.mod requires shared v%s, which has no release record in releases/shared.json (release shared first: scripts/release shared %s)", e.Name(), v, v))
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	return nil
}
