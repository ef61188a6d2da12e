package contract

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// schemathesis returns the path of the pinned schemathesis executable,
// creating its virtual environment when it is missing. A marker written
// after a complete install says the environment is usable, so an
// interrupted set-up is redone; a file lock keeps two test processes from
// building it at once.
func schemathesis(t *testing.T) string {
	t.Helper()
	reqs, err := os.ReadFile("requirements.txt")
	if err != nil {
		t.Fatalf("read requirements.txt: %v", err)
	}
	sum := sha256.Sum256(reqs)
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("user cache directory: %v", err)
	}
	root := filepath.Join(cache, "parley")
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatalf("create %s: %v", root, err)
	}
	dir := filepath.Join(root, "schemathesis-"+hex.EncodeToString(sum[:6]))
	exe := filepath.Join(dir, "bin", "schemathesis")
	marker := filepath.Join(dir, ".installed")

	lock, err := os.OpenFile(filepath.Join(root, "schemathesis.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatalf("open lock: %v", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		t.Fatalf("lock %s: %v", lock.Name(), err)
	}
	defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN) //nolint:errcheck // closing the file unlocks too

	if _, err := os.Stat(marker); err == nil {
		return exe
	}
	abs, err := filepath.Abs("requirements.txt")
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	run(t, "python3", "-m", "venv", "--clear", dir)
	run(t, filepath.Join(dir, "bin", "pip"), "install", "--quiet", "--disable-pip-version-check",
		"--require-virtualenv", "-r", abs)
	run(t, exe, "--version")
	if err := os.WriteFile(marker, reqs, 0o644); err != nil {
		t.Fatalf("write %s: %v", marker, err)
	}
	t.Logf("installed the pinned Schemathesis into %s in %s", dir, time.Since(start).Round(time.Second))
	return exe
}

func run(t *testing.T, name string, args ...string) {
	t.Helper()
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %v: %v\n%s", name, args, err, out)
	}
}
