package main

import (
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// goldenPackages are the shared packages whose testdata/*.json are the
// golden examples of a wire contract.
var goldenPackages = []string{"events", "link"}

// goldenAt returns the golden examples of pkg at commit, by file name.
func goldenAt(root, commit, pkg string) (map[string][]byte, error) {
	dir := SharedModule + "/" + pkg + "/testdata/"
	list, err := git(root, "ls-tree", "--name-only", commit, dir)
	if err != nil {
		return nil, err
	}
	out := map[string][]byte{}
	for _, p := range strings.Fields(list) {
		if path.Ext(p) != ".json" {
			continue
		}
		body, err := showFile(root, commit, p)
		if err != nil {
			return nil, err
		}
		out[path.Base(p)] = body
	}
	return out, nil
}

// snapshotDir is where a release's examples of pkg are kept.
func snapshotDir(root, pkg, version string) string {
	return filepath.Join(root, SharedModule, pkg, "testdata", "v"+version)
}

// writeGolden keeps the examples of shared's release (as at its commit) in
// shared/<pkg>/testdata/v<version>/, for the readers' tests of every later
// version.
func writeGolden(root string, rel Release) error {
	for _, pkg := range goldenPackages {
		files, err := goldenAt(root, rel.Commit, pkg)
		if err != nil {
			return err
		}
		if len(files) == 0 {
			continue
		}
		dir := snapshotDir(root, pkg, rel.Version)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		for name, body := range files {
			if err := os.WriteFile(filepath.Join(dir, name), body, 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkGolden compares every release's kept examples with its commit.
func checkGolden(root string, rec Record) error {
	var problems []string
	for _, rel := range rec.Releases {
		for _, pkg := range goldenPackages {
			want, err := goldenAt(root, rel.Commit, pkg)
			if err != nil {
				return err
			}
			dir := snapshotDir(root, pkg, rel.Version)
			entries, err := os.ReadDir(dir)
			if err != nil && len(want) > 0 {
				problems = append(problems, fmt.Sprintf("%s: %v (scripts/release shared %s writes it)", dir, err, rel.Version))
				continue
			}
			have := map[string]bool{}
			for _, e := range entries {
				have[e.Name()] = true
				body, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					return err
				}
				if w, ok := want[e.Name()]; !ok || !bytes.Equal(w, body) {
					problems = append(problems, fmt.Sprintf("%s/%s differs from %s at %.12s", dir, e.Name(), pkg, rel.Commit))
				}
			}
			for name := range want {
				if !have[name] {
					problems = append(problems, fmt.Sprintf("%s/%s is missing", dir, name))
				}
			}
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "\n"))
	}
	return nil
}
