package harness

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
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

// Binaries builds the four services once per test process and returns the
// directory holding them.
func Binaries(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "parley-e2e-bin-")
		if buildErr != nil {
			return
		}
		for _, s := range Services {
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
