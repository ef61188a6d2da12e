package rabbittest

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// CloseConnection closes, from the broker's side, the one connection whose
// client-given name is name (rabbit.WithName plus its role, e.g.
// "gateway/gw-1/deliveries"), with rabbitmqctl through scripts/infra
// (PARLEY_INFRA). Only that connection is touched: the broker and every
// other client keep running.
func CloseConnection(t testing.TB, name string) {
	t.Helper()
	closed := 0
	named := `{"connection_name","` + name + `"}`
	for line := range strings.SplitSeq(rabbitmqctl(t, "list_connections", "--no-table-headers", "pid", "client_properties"), "\n") {
		pid, props, ok := strings.Cut(strings.TrimSpace(line), "\t")
		if ok && strings.Contains(props, named) {
			rabbitmqctl(t, "close_connection", pid, "closed by a test")
			closed++
		}
	}
	if closed != 1 {
		t.Fatalf("closed %d connections named %q, want 1", closed, name)
	}
}

// rabbitmqctl runs the broker's CLI against the development node.
func rabbitmqctl(t testing.TB, args ...string) string {
	t.Helper()
	script := os.Getenv("PARLEY_INFRA")
	if script == "" {
		t.Fatal("PARLEY_INFRA is not set: this test uses rabbitmqctl (set -a; . .local/env; set +a)")
	}
	out, err := exec.Command(script, append([]string{"rabbitmqctl", "-q"}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("rabbitmqctl %v: %v\n%s", args, err, out)
	}
	return string(out)
}
