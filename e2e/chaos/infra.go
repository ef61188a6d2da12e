package chaos

import (
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// infra runs scripts/infra with args and returns its output.
func (w *World) infra(args ...string) (string, error) {
	out, err := exec.Command(w.s.Infra.Script, args...).CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

// KillBroker SIGKILLs the RabbitMQ server process (the shared broker:
// only for tests that have the infrastructure to themselves) and starts it
// again after down, as one fault.
func (w *World) KillBroker(down time.Duration) *Fault {
	out, err := w.infra("pid", "rabbitmq")
	pid, perr := strconv.Atoi(out)
	if err != nil || perr != nil {
		w.t.Errorf("rabbitmq pid: %v %v: %s", err, perr, out)
		return w.Fault("SIGKILL RabbitMQ (no pid)")
	}
	f := w.Fault("SIGKILL RabbitMQ")
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		w.t.Errorf("kill -9 %d: %v", pid, err)
	}
	w.restartInfra(f, "rabbitmq", down)
	return f
}

// RestartPostgres stops PostgreSQL (fast shutdown: sessions are cut) and
// starts it again after down, as one fault.
func (w *World) RestartPostgres(down time.Duration) *Fault {
	f := w.Fault("restart PostgreSQL")
	if out, err := w.infra("stop", "pg"); err != nil {
		w.t.Errorf("stop PostgreSQL: %v: %s", err, out)
	}
	w.restartInfra(f, "pg", down)
	return f
}

func (w *World) restartInfra(f *Fault, comp string, down time.Duration) {
	pause(w.stop, down)
	if out, err := w.infra("start", comp); err != nil {
		w.t.Errorf("start %s: %v: %s", comp, err, out)
		return
	}
	f.Back = time.Now()
}
