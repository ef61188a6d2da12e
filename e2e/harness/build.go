package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// Services are the binaries a stack runs.
var Services = []string{"auth-service", "user-service", "chat-service", "gateway"}

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// BinaryEnv names the variable that gives a service's binary instead of
// building it from the working tree, e.g. PARLEY_BIN_CHAT_SERVICE for
// chat-service: the mixed-version tests (e2e/compat) run a released build of
// some services beside the current build of the others this way.
func BinaryEnv(service string) string {
	return "PARLEY_BIN_" + strings.ToUpper(strings.ReplaceAll(service, "-", "_"))
}

// Binaries builds the four services once per test process (or takes the
// binary BinaryEnv names) and returns the directory holding them.
func Binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "parley-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, s := range Services {
			if given := os.Getenv(BinaryEnv(s)); given != "" {
				abs, err := filepath.Abs(given)
				if err == nil {
					err = os.Symlink(abs, filepath.Join(binDir, s))
				}
				if err != nil {
					buildErr = fmt.Errorf("%s=%s: %v", BinaryEnv(s), given, err)
					return
				}
				continue
			}
			cmd := exec.Command("go", "build", "-o", filepath.Join(binDir, s), "./cmd/"+s)
			cmd.Dir = filepath.Join(RepoRoot(), s)
			if out, err := cmd.CombinedOutput(); err != nil {
				buildErr = fmt.Errorf("build %s: %v\n%s", s, err, out)
				return
			}
		}
	})
	if buildErr != nil {
		t.Fatalf("building services: %v", buildErr)
	}
	return binDir
}
