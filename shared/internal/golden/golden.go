// Package golden reads the golden examples of the wire contracts (events,
// link commands and acks) as they are now and as each release published
// them, for the tests of the readers.
//
// testdata/*.json holds the examples of the working tree; testdata/v<X.Y.Z>/
// holds a release's examples exactly as they were at the release's commit
// (written by scripts/release shared, checked against git history by the
// release tool's tests). Every reader must accept the examples of every
// release still listed, and ignore fields it does not know.
package golden

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// File is one golden example.
type File struct {
	Version string // "" for the working tree, else the release
	Name    string // file name without .json, e.g. auth.user.registered.v1
	Body    []byte
}

var versionDir = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)$`)

// Releases lists the release folders under dir (testdata), e.g. v0.1.0.
func Releases(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		if e.IsDir() && versionDir.MatchString(e.Name()) {
			out = append(out, e.Name())
		}
	}
	slices.Sort(out)
	return out, nil
}

// Read returns the examples directly in dir, sorted by name.
func Read(dir, version string) ([]File, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return nil, err
	}
	slices.Sort(paths)
	out := make([]File, 0, len(paths))
	for _, p := range paths {
		body, err := os.ReadFile(p)
		if err != nil {
			return nil, err
		}
		out = append(out, File{Version: version, Name: strings.TrimSuffix(filepath.Base(p), ".json"), Body: body})
	}
	return out, nil
}

// All returns the working tree's examples and every release's, the current
// ones first.
func All(dir string) ([]File, error) {
	out, err := Read(dir, "")
	if err != nil {
		return nil, err
	}
	vs, err := Releases(dir)
	if err != nil {
		return nil, err
	}
	for _, v := range vs {
		files, err := Read(filepath.Join(dir, v), strings.TrimPrefix(v, "v"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("%s/%s holds no example", dir, v)
		}
		out = append(out, files...)
	}
	return out, nil
}

// Newer returns body as a newer peer could send it: the object at the top
// and the objects named by nested (e.g. "data", "error") carry fields this
// version has never heard of, of every JSON kind.
func Newer(body []byte, nested ...string) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, err
	}
	for _, k := range nested {
		raw, ok := top[k]
		if !ok {
			continue
		}
		var inner map[string]json.RawMessage
		if json.Unmarshal(raw, &inner) != nil {
			continue // not an object (null, an array…): nothing to add to
		}
		addUnknown(inner)
		b, err := json.Marshal(inner)
		if err != nil {
			return nil, err
		}
		top[k] = b
	}
	addUnknown(top)
	return json.Marshal(top)
}

func addUnknown(m map[string]json.RawMessage) {
	m["addedInANewerVersion"] = json.RawMessage(`"x"`)
	m["newerCounter"] = json.RawMessage(`7`)
	m["newerFlags"] = json.RawMessage(`{"a":true,"b":[1,2,{"c":null}]}`)
	m["newerList"] = json.RawMessage(`[{"id":"n1"}]`)
}
