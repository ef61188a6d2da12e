package bench

import (
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
)

var (
	toolsOnce sync.Once
	toolsErr  string
)

// tool finds a command installed from a Debian package, looking in the
// sbin directories too (nginx lives in /usr/sbin).
func tool(name string) string {
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		if st, err := os.Stat(dir + "/" + name); err == nil && !st.IsDir() {
			return dir + "/" + name
		}
	}
	return ""
}

// ensureTools installs nginx, wrk and hey from the Debian archive when one
// of them is missing (apt-get install -y, only for what is absent).
func ensureTools(b *testing.B) (nginx, wrk, hey string) {
	b.Helper()
	toolsOnce.Do(func() {
		var missing []string
		for _, t := range []string{"nginx", "wrk", "hey"} {
			if tool(t) == "" {
				missing = append(missing, t)
			}
		}
		if len(missing) == 0 {
			return
		}
		install := func() ([]byte, error) {
			cmd := exec.Command("apt-get", append([]string{"install", "-y", "--no-install-recommends"}, missing...)...)
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			return cmd.CombinedOutput()
		}
		if _, err := install(); err != nil {
			// The package lists may be missing or stale.
			_, _ = exec.Command("apt-get", "update").CombinedOutput()
			if out, err := install(); err != nil {
				toolsErr = "apt-get install -y " + strings.Join(missing, " ") + ": " + err.Error() + "\n" + string(out)
			}
		}
	})
	if toolsErr != "" {
		b.Fatalf("installing the gateway benchmark's tools: %s", toolsErr)
	}
	nginx, wrk, hey = tool("nginx"), tool("wrk"), tool("hey")
	if nginx == "" || wrk == "" || hey == "" {
		b.Fatalf("nginx (%q), wrk (%q) and hey (%q) are needed (Debian packages nginx, wrk, hey)", nginx, wrk, hey)
	}
	return nginx, wrk, hey
}
