package deploy

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// TestPrometheusRules runs promtool over infra/prometheus: the config and
// rule files parse, and every alert's unit test (rules.test.yml) holds.
func TestPrometheusRules(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: scripts/infra up installs Debian's prometheus package")
	}
	dir := filepath.Join("..", "..", "infra", "prometheus")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "recording.rules.yml", "alerts.rules.yml"},
		{"test", "rules", "rules.test.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %v: %v\n%s", args, err, out)
		}
	}
}
