package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Platform is the one platform images are built for.
const (
	goos   = "linux"
	goarch = "amd64"
)

// git runs git in root and returns its trimmed standard output.
func git(root string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("git %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(string(out)), nil
}

// commitTime is the committer time of commit, the time every file and the
// image carry so that a rebuild gives the same bytes.
func commitTime(root, commit string) (time.Time, error) {
	s, err := git(root, "show", "-s", "--format=%ct", commit)
	if err != nil {
		return time.Time{}, err
	}
	var sec int64
	if _, err := fmt.Sscan(s, &sec); err != nil {
		return time.Time{}, fmt.Errorf("commit time %q: %v", s, err)
	}
	return time.Unix(sec, 0).UTC(), nil
}

// extract writes the folder dir of commit into dest/dir, from the
// repository's history, never from the working tree.
func extract(root, commit, dir, dest string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return err
	}
	archive := exec.Command("git", "archive", "--format=tar", commit, dir+"/")
	archive.Dir = root
	untar := exec.Command("tar", "-x", "-C", dest)
	pipe, err := archive.StdoutPipe()
	if err != nil {
		return err
	}
	untar.Stdin = pipe
	var aerr, terr bytes.Buffer
	archive.Stderr, untar.Stderr = &aerr, &terr
	if err := untar.Start(); err != nil {
		return err
	}
	if err := archive.Run(); err != nil {
		_ = untar.Wait()
		return fmt.Errorf("git archive %s %s: %v: %s", commit, dir, err, aerr.String())
	}
	if err := untar.Wait(); err != nil {
		return fmt.Errorf("tar: %v: %s", err, terr.String())
	}
	return nil
}

// showFile is a file's content at commit.
func showFile(root, commit, path string) ([]byte, error) {
	cmd := exec.Command("git", "show", commit+":"+path)
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s at %.12s: %v", path, commit, err)
	}
	return out, nil
}

// buildEnv is the environment of a reproducible build: no workspace, no
// cgo, one platform, the module graph exactly as go.mod and go.sum say.
func buildEnv() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch k {
		case "GOWORK", "GOFLAGS", "CGO_ENABLED", "GOOS", "GOARCH", "GOAMD64", "GOEXPERIMENT", "GOTOOLCHAIN":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "GOWORK=off", "GOFLAGS=-mod=readonly -buildvcs=false", "CGO_ENABLED=0",
		"GOOS="+goos, "GOARCH="+goarch, "GOAMD64=v1", "GOEXPERIMENT=", "GOTOOLCHAIN=local")
}

// ldflags are the fixed linker flags: no symbol table, an empty build id,
// the version stamped into main.version.
func ldflags(version string) string {
	return "-s -w -buildid= -X main.version=" + version
}

// goVersion is the toolchain that builds (recorded with each release).
func goVersion() (string, error) {
	out, err := exec.Command("go", "env", "GOVERSION").Output()
	return strings.TrimSpace(string(out)), err
}

// buildService builds service at commit against shared at sharedCommit,
// both extracted into work, and returns the binary's path and sha256.
func buildService(root, service, version, commit, sharedCommit, work string) (string, string, error) {
	src := filepath.Join(work, "src")
	if err := extract(root, sharedCommit, SharedModule, src); err != nil {
		return "", "", err
	}
	if err := extract(root, commit, service, src); err != nil {
		return "", "", err
	}
	modDir := filepath.Join(src, service)
	// The released shared (extracted beside the module), whatever replace
	// the module had. Relative, as the path is written into the binary.
	edit := exec.Command("go", "mod", "edit", "-replace", sharedPath+"=../"+SharedModule)
	edit.Dir, edit.Env = modDir, buildEnv()
	if out, err := edit.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go mod edit: %v: %s", err, out)
	}
	bin := filepath.Join(work, "bin", service)
	build := exec.Command("go", "build", "-trimpath", "-ldflags", ldflags(version), "-o", bin, "./cmd/"+service)
	build.Dir, build.Env = modDir, buildEnv()
	if out, err := build.CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("go build %s: %v\n%s", service, err, out)
	}
	raw, err := os.ReadFile(bin)
	if err != nil {
		return "", "", err
	}
	sum := sha256.Sum256(raw)
	return bin, hex.EncodeToString(sum[:]), nil
}

// checkShared builds and vets shared alone at commit, with the workspace off.
func checkShared(root, commit, work string) error {
	src := filepath.Join(work, "src")
	if err := extract(root, commit, SharedModule, src); err != nil {
		return err
	}
	for _, args := range [][]string{{"build", "./..."}, {"vet", "./..."}} {
		cmd := exec.Command("go", args...)
		cmd.Dir, cmd.Env = filepath.Join(src, SharedModule), buildEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("go %s in shared: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}
