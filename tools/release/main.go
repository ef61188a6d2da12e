// Command release releases one Parley module (see scripts/release and the
// README's "Releases" section).
//
//	release <module> <version> [-out DIR] [-no-record] [-bin PATH]
//
// For a service it checks the changelog entry, builds the service alone at
// the release commit against the released shared its go.mod requires (both
// taken from git history, never from the working tree) with reproducible
// flags, assembles an OCI image with fixed timestamps, prints its digest and
// records the release in releases/<service>.json. For shared it checks the
// changelog, builds and vets shared alone and records the release.
// Releasing a version that is already recorded rebuilds it from its recorded
// commit and fails unless the digest is the recorded one.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

// options are a release's command-line arguments.
type options struct {
	module, version string
	out             string // OCI layout directory (services)
	noRecord        bool   // build and print, leave releases/ alone
	bin             string // where to copy the service's binary too
	root            string // repository root
}

func parseArgs(args []string) (options, error) {
	var o options
	if len(args) < 2 || strings.HasPrefix(args[0], "-") || strings.HasPrefix(args[1], "-") {
		return o, errors.New("usage: scripts/release <module> <version> [-out DIR] [-no-record] [-bin PATH]")
	}
	o.module, o.version = args[0], strings.TrimPrefix(args[1], "v")
	fs := flag.NewFlagSet("release", flag.ContinueOnError)
	fs.StringVar(&o.out, "out", "", "OCI image layout directory (default .local/images/<module>-<version>)")
	fs.BoolVar(&o.noRecord, "no-record", false, "build and print the digest without recording the release")
	fs.StringVar(&o.bin, "bin", "", "also copy the service's binary to this path")
	if err := fs.Parse(args[2:]); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	if o.module != SharedModule && !slices.Contains(Services, o.module) {
		return o, fmt.Errorf("unknown module %q (want shared or one of %s)", o.module, strings.Join(Services, ", "))
	}
	if !semver.MatchString(o.version) {
		return o, fmt.Errorf("version %q is not MAJOR.MINOR.PATCH", o.version)
	}
	return o, nil
}

func run(args []string) error {
	o, err := parseArgs(args)
	if err != nil {
		return err
	}
	if o.root, err = git(".", "rev-parse", "--show-toplevel"); err != nil {
		return err
	}
	if o.out == "" {
		o.out = filepath.Join(o.root, ".local", "images", o.module+"-"+o.version)
	}
	rel, reproduced, err := release(o)
	if err != nil {
		return err
	}
	fmt.Printf("%s %s: commit %s", o.module, rel.Version, rel.Commit)
	if rel.Shared != "" {
		fmt.Printf(", shared %s", rel.Shared)
	}
	fmt.Println()
	if rel.Image != nil {
		fmt.Printf("image: %s (OCI layout, %s)\nbinary sha256: %s\n", o.out, rel.Image.Platform, rel.Image.Binary)
		fmt.Printf("digest: %s\n", rel.Image.Digest)
	}
	switch {
	case reproduced:
		fmt.Printf("reproduced the recorded release %s (releases/%s.json unchanged)\n", rel.Version, o.module)
	case o.noRecord:
		fmt.Println("not recorded (-no-record)")
	default:
		fmt.Printf("recorded in releases/%s.json; commit it, and tag where a remote keeps tags: git tag %s %s\n", o.module, rel.Tag, rel.Commit)
	}
	return nil
}

// release builds (or rebuilds) one release and records it unless told not to.
func release(o options) (Release, bool, error) {
	rec, err := LoadRecord(o.root, o.module)
	if err != nil {
		return Release{}, false, err
	}
	recorded, reproduce := rec.Find(o.version)
	commit := recorded.Commit
	if !reproduce {
		if commit, err = git(o.root, "rev-parse", "HEAD"); err != nil {
			return Release{}, false, err
		}
		dirty, err := git(o.root, "status", "--porcelain", "--", o.module)
		if err != nil {
			return Release{}, false, err
		}
		if dirty != "" {
			return Release{}, false, fmt.Errorf("%s/ has uncommitted changes; a release is built from a commit:\n%s", o.module, dirty)
		}
		if latest, ok := rec.Latest(); ok && !newer(o.version, latest.Version) {
			return Release{}, false, fmt.Errorf("%s %s is not newer than the last release %s", o.module, o.version, latest.Version)
		}
	}
	changelog, err := showFile(o.root, commit, o.module+"/CHANGELOG.md")
	if err != nil {
		return Release{}, false, err
	}
	if err := checkChangelog(changelog, o.version); err != nil {
		return Release{}, false, fmt.Errorf("%s/CHANGELOG.md at %.12s: %v", o.module, commit, err)
	}
	date, err := commitTime(o.root, commit)
	if err != nil {
		return Release{}, false, err
	}
	work, err := os.MkdirTemp("", "parley-release-")
	if err != nil {
		return Release{}, false, err
	}
	defer os.RemoveAll(work)

	rel := Release{Version: o.version, Commit: commit, Date: date.Format("2006-01-02T15:04:05Z"), Tag: o.module + "/v" + o.version}
	if o.module == SharedModule {
		if err := checkShared(o.root, commit, work); err != nil {
			return Release{}, false, err
		}
	} else {
		if err := buildRelease(o, &rel, work); err != nil {
			return Release{}, false, err
		}
	}
	if o.module == SharedModule && !o.noRecord {
		if err := writeGolden(o.root, rel); err != nil {
			return Release{}, false, err
		}
	}
	if reproduce {
		if recorded.Image != nil && (rel.Image == nil || recorded.Image.Digest != rel.Image.Digest) {
			return rel, false, fmt.Errorf("rebuilt %s %s gives %s, the record says %s (recorded with %s, rebuilt with %s)",
				o.module, o.version, rel.Image.Digest, recorded.Image.Digest, recorded.Go, rel.Go)
		}
		return rel, true, nil
	}
	if !o.noRecord {
		rec.Releases = append(rec.Releases, rel)
		if err := rec.Save(o.root); err != nil {
			return Release{}, false, err
		}
	}
	return rel, false, nil
}

// buildRelease builds the service's binary against its released shared and
// its image, filling rel's shared version, toolchain and image.
func buildRelease(o options, rel *Release, work string) error {
	gomod, err := showFile(o.root, rel.Commit, o.module+"/go.mod")
	if err != nil {
		return err
	}
	rel.Shared = requiredShared(gomod)
	sharedRec, err := LoadRecord(o.root, SharedModule)
	if err != nil {
		return err
	}
	sharedRel, ok := sharedRec.Find(rel.Shared)
	if !ok {
		return fmt.Errorf("%s/go.mod at %.12s requires shared v%s, which has no release record (scripts/release shared %s first)", o.module, rel.Commit, rel.Shared, rel.Shared)
	}
	if err := checkMainVersion(o.root, rel.Commit, o.module, o.version); err != nil {
		return err
	}
	if rel.Go, err = goVersion(); err != nil {
		return err
	}
	binPath, binSum, err := buildService(o.root, o.module, o.version, rel.Commit, sharedRel.Commit, work)
	if err != nil {
		return err
	}
	binary, err := os.ReadFile(binPath)
	if err != nil {
		return err
	}
	if o.bin != "" {
		if err := os.MkdirAll(filepath.Dir(o.bin), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(o.bin, binary, 0o755); err != nil {
			return err
		}
	}
	created, err := commitTime(o.root, rel.Commit)
	if err != nil {
		return err
	}
	img, err := buildImage(imageSpec{Service: o.module, Version: o.version, Commit: rel.Commit, Created: created, Binary: binary})
	if err != nil {
		return err
	}
	digest, err := imageDigest(img)
	if err != nil {
		return err
	}
	if err := writeLayout(o.out, img, o.version); err != nil {
		return err
	}
	rel.Image = &Image{Digest: digest, Platform: goos + "/" + goarch, Binary: binSum}
	return nil
}

// mainVersion finds the version a service's main.go states for builds that
// are not stamped (the compose and Kubernetes manifests follow it).
var mainVersion = regexp.MustCompile(`(?m)^var version = "([^"]+)"`)

// checkMainVersion requires cmd/<service>/main.go at commit to state version.
func checkMainVersion(root, commit, service, version string) error {
	path := service + "/cmd/" + service + "/main.go"
	src, err := showFile(root, commit, path)
	if err != nil {
		return err
	}
	m := mainVersion.FindSubmatch(src)
	if m == nil {
		return fmt.Errorf("%s at %.12s has no `var version = \"...\"`", path, commit)
	}
	if string(m[1]) != version {
		return fmt.Errorf("%s at %.12s states version %s, not %s: set it (and the manifests under infra/) first", path, commit, m[1], version)
	}
	return nil
}

// checkChangelog requires a "## [version]" section with at least one entry.
func checkChangelog(changelog []byte, version string) error {
	heading := "## [" + version + "]"
	var in, entries bool
	for line := range bytes.Lines(changelog) {
		s := strings.TrimSpace(string(line))
		if strings.HasPrefix(s, "## ") {
			if in {
				break
			}
			in = strings.HasPrefix(s, heading)
			continue
		}
		if in && (strings.HasPrefix(s, "- ") || strings.HasPrefix(s, "* ")) {
			entries = true
		}
	}
	if !entries {
		return fmt.Errorf("no %q section with entries", heading)
	}
	return nil
}

// newer reports whether semantic version a is after b.
func newer(a, b string) bool {
	pa, pb := strings.Split(a, "."), strings.Split(b, ".")
	for i := range 3 {
		x, _ := strconv.Atoi(pa[i])
		y, _ := strconv.Atoi(pb[i])
		if x != y {
			return x > y
		}
	}
	return false
}
