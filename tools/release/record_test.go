package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the repository holding this module.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := git(".", "rev-parse", "--show-toplevel")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestReleaseRecords is the make-test check: every module's go.mod requires
// a version of shared that has a release record, and every record is whole.
func TestReleaseRecords(t *testing.T) {
	root := repoRoot(t)
	if err := Check(root); err != nil {
		t.Fatalf("release records:\n%v", err)
	}
	for _, m := range append([]string{SharedModule}, Services...) {
		rec, err := LoadRecord(root, m)
		if err != nil {
			t.Fatal(err)
		}
		latest, ok := rec.Latest()
		if !ok {
			t.Fatalf("%s has never been released (releases/%s.json)", m, m)
		}
		changelog, err := os.ReadFile(filepath.Join(root, m, "CHANGELOG.md"))
		if err != nil {
			t.Fatal(err)
		}
		if err := checkChangelog(changelog, latest.Version); err != nil {
			t.Errorf("%s/CHANGELOG.md lost the entry of its release %s: %v", m, latest.Version, err)
		}
	}
}

// TestGoldenSnapshots: each shared release's golden examples are kept
// under testdata/v<version>/ exactly as they were at its commit.
func TestGoldenSnapshots(t *testing.T) {
	root := repoRoot(t)
	rec, err := LoadRecord(root, SharedModule)
	if err != nil {
		t.Fatal(err)
	}
	if err := checkGolden(root, rec); err != nil {
		t.Fatal(err)
	}
}

// writeFile writes body at root/rel, making folders.
func writeFile(t *testing.T, root, rel, body string) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

const commitA = "0123456789abcdef0123456789abcdef01234567"

// TestCheckRefusesUnreleasedShared: a go.mod or a service release naming a
// shared version without a record fails the check; the workspace replace
// changes nothing.
func TestCheckRefusesUnreleasedShared(t *testing.T) {
	root := t.TempDir()
	writeFile(t, root, "releases/shared.json", `{"module":"shared","releases":[{"version":"0.1.0","commit":"`+commitA+`","date":"2026-11-30T00:00:00Z","tag":"shared/v0.1.0"}]}`)
	gomod := func(v string) string {
		return "module github.com/parleychat/parley/gateway\n\ngo 1.26.8\n\nrequire (\n\tgithub.com/gin-gonic/gin v1.12.0\n\tgithub.com/parleychat/parley/shared " + v + "\n)\n\nreplace github.com/parleychat/parley/shared => ../shared\n"
	}
	writeFile(t, root, "gateway/go.mod", gomod("v0.1.0"))
	writeFile(t, root, "e2e/go.mod", "module github.com/parleychat/parley/e2e\n\nrequire github.com/parleychat/parley/shared v0.1.0\n")
	if err := Check(root); err != nil {
		t.Fatalf("released requirement refused: %v", err)
	}

	writeFile(t, root, "gateway/go.mod", gomod("v0.2.0"))
	err := Check(root)
	if err == nil || !strings.Contains(err.Error(), "gateway/go.mod requires shared v0.2.0") {
		t.Fatalf("unreleased shared v0.2.0 in gateway/go.mod: %v", err)
	}

	writeFile(t, root, "e2e/go.mod", "module github.com/parleychat/parley/e2e\n\nrequire github.com/parleychat/parley/shared v0.3.0\n")
	writeFile(t, root, "gateway/go.mod", gomod("v0.1.0"))
	if err := Check(root); err == nil || !strings.Contains(err.Error(), "e2e/go.mod requires shared v0.3.0") {
		t.Fatalf("single-line require of an unreleased shared: %v", err)
	}
	writeFile(t, root, "e2e/go.mod", "module github.com/parleychat/parley/e2e\n")

	writeFile(t, root, "releases/gateway.json", `{"module":"gateway","releases":[{"version":"0.1.0","commit":"`+commitA+`","date":"2026-11-30T00:00:00Z","shared":"0.0.9","image":{"digest":"sha256:00","platform":"linux/amd64","binary":"00"},"tag":"gateway/v0.1.0"}]}`)
	if err := Check(root); err == nil || !strings.Contains(err.Error(), `requires shared "0.0.9"`) {
		t.Fatalf("service release of an unreleased shared: %v", err)
	}
	writeFile(t, root, "releases/gateway.json", `{"module":"gateway","releases":[{"version":"0.1.0","commit":"`+commitA+`","date":"2026-11-30T00:00:00Z","shared":"0.1.0","tag":"gateway/v0.1.0"}]}`)
	if err := Check(root); err == nil || !strings.Contains(err.Error(), "no image digest") {
		t.Fatalf("service release without an image: %v", err)
	}
}

func TestChangelogEntry(t *testing.T) {
	cl := []byte("# Changelog\n\n## [Unreleased]\n\n- next thing\n\n## [0.2.0] — 2026-12-01\n\n### Added\n- a field\n\n## [0.1.0] — 2026-11-30\n\n")
	if err := checkChangelog(cl, "0.2.0"); err != nil {
		t.Fatalf("0.2.0 has an entry: %v", err)
	}
	for _, v := range []string{"0.1.0", "0.3.0"} {
		if checkChangelog(cl, v) == nil {
			t.Errorf("%s has no entry, accepted", v)
		}
	}
}

func TestNewer(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{"0.2.0", "0.1.0", true}, {"0.10.0", "0.9.1", true}, {"0.1.0", "0.1.0", false}, {"0.1.0", "0.1.1", false}, {"1.0.0", "0.99.99", true}} {
		if got := newer(c.a, c.b); got != c.want {
			t.Errorf("newer(%s, %s) = %v", c.a, c.b, got)
		}
	}
}
