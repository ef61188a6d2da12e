package main

import (
	"archive/tar"
	"bytes"
	"debug/buildinfo"
	"io"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
)

// TestReleaseImageReproducible rebuilds the recorded release of one service
// twice from its recorded commit: both builds give the recorded digest (or,
// with another toolchain than the recorded one, the same digest as each
// other), and the image runs the stamped binary as a non-root user.
func TestReleaseImageReproducible(t *testing.T) {
	root := repoRoot(t)
	const svc = "user-service"
	rec, err := LoadRecord(root, svc)
	if err != nil {
		t.Fatal(err)
	}
	want, ok := rec.Latest()
	if !ok {
		t.Fatalf("%s has no release", svc)
	}
	gover, err := goVersion()
	if err != nil {
		t.Fatal(err)
	}
	// The command itself, built plainly (a -race build of the test would
	// make its compression many times slower), run twice.
	tool := filepath.Join(t.TempDir(), "release")
	build := exec.Command("go", "build", "-o", tool, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build the release command: %v\n%s", err, out)
	}
	var digests, outs []string
	for range 2 {
		out := filepath.Join(t.TempDir(), "image")
		cmd := exec.Command(tool, svc, want.Version, "-no-record", "-out", out)
		cmd.Dir = root
		printed, err := cmd.CombinedOutput()
		switch {
		case gover == want.Go && (err != nil || !strings.Contains(string(printed), "reproduced the recorded release")):
			t.Fatalf("rebuilding %s %s with the recorded toolchain %s: %v\n%s", svc, want.Version, gover, err, printed)
		case gover != want.Go:
			t.Logf("toolchain %s, the release was recorded with %s: comparing the two rebuilds only (%v)", gover, want.Go, err)
		}
		m := regexp.MustCompile(`(?m)^digest: (sha256:[0-9a-f]{64})$`).FindStringSubmatch(string(printed))
		if m == nil {
			t.Fatalf("no digest printed:\n%s", printed)
		}
		digests, outs = append(digests, m[1]), append(outs, out)
	}
	if digests[0] != digests[1] {
		t.Fatalf("two builds of %s %s: %s and %s", svc, want.Version, digests[0], digests[1])
	}
	t.Logf("%s %s: %s twice", svc, want.Version, digests[0])

	idx, err := layout.ImageIndexFromPath(outs[0])
	if err != nil {
		t.Fatal(err)
	}
	man, err := idx.IndexManifest()
	if err != nil || len(man.Manifests) != 1 {
		t.Fatalf("image layout index: %v, %d manifests", err, len(man.Manifests))
	}
	if man.Manifests[0].Digest.String() != digests[0] {
		t.Fatalf("layout holds %s, printed %s", man.Manifests[0].Digest, digests[0])
	}
	img, err := idx.Image(man.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	c := cf.Config
	if !slices.Equal(c.Entrypoint, []string{"/" + svc}) {
		t.Errorf("entrypoint %q", c.Entrypoint)
	}
	if uid, _, _ := strings.Cut(c.User, ":"); uid == "" || uid == "0" || uid == "root" {
		t.Errorf("runs as %q, want a non-root user", c.User)
	}
	if c.Labels["org.opencontainers.image.version"] != want.Version || c.Labels["org.opencontainers.image.revision"] != want.Commit {
		t.Errorf("labels %v, want version %s revision %s", c.Labels, want.Version, want.Commit)
	}
	if cf.OS != "linux" || cf.Architecture != "amd64" || cf.Created.UTC().Format("2006-01-02T15:04:05Z") != want.Date {
		t.Errorf("platform %s/%s created %s, want linux/amd64 at the commit's time %s", cf.OS, cf.Architecture, cf.Created, want.Date)
	}
	layers, err := img.Layers()
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, l := range layers {
		rc, err := l.Uncompressed()
		if err != nil {
			t.Fatal(err)
		}
		tr := tar.NewReader(rc)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h.Uid != 0 || h.Gid != 0 || !h.ModTime.Equal(cf.Created.Time) {
				t.Errorf("%s: owner %d:%d, time %s", h.Name, h.Uid, h.Gid, h.ModTime)
			}
			body, _ := io.ReadAll(tr)
			files[h.Name] = body
		}
		rc.Close()
	}
	if len(files["etc/ssl/certs/ca-certificates.crt"]) < 10000 {
		t.Errorf("no CA bundle in the image (%d bytes)", len(files["etc/ssl/certs/ca-certificates.crt"]))
	}
	bin, ok := files[svc]
	if !ok {
		t.Fatalf("no /%s in the image: %v", svc, slices.Collect(func(yield func(string) bool) {
			for k := range files {
				if !yield(k) {
					return
				}
			}
		}))
	}
	info, err := buildinfo.Read(bytes.NewReader(bin))
	if err != nil {
		t.Fatal(err)
	}
	settings := map[string]string{}
	for _, s := range info.Settings {
		settings[s.Key] = s.Value
	}
	// (-trimpath leaves -ldflags out of the build info; the stamped version
	// is checked end to end by e2e/compat.)
	if settings["CGO_ENABLED"] != "0" || settings["-trimpath"] != "true" || settings["GOOS"] != "linux" || settings["GOAMD64"] != "v1" {
		t.Errorf("binary built with %v", settings)
	}
	if info.Main.Path != "github.com/parleychat/parley/"+svc {
		t.Errorf("binary's main module %q", info.Main.Path)
	}
	found := false
	for _, d := range info.Deps {
		if d.Path == sharedPath {
			found = true
			if d.Version != "v"+want.Shared || d.Replace == nil || d.Replace.Path != "../shared" {
				t.Errorf("shared in the binary: %+v (replace %+v), want the released v%s extracted beside it", d, d.Replace, want.Shared)
			}
		}
	}
	if !found {
		t.Errorf("no shared module in the binary's build info")
	}
}
