package bench

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
var clockTicks = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if n, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && n > 0 {
			return float64(n)
		}
	}
	return 100
}()

// procStat is what the benchmark reads from /proc/<pid>/stat.
type procStat struct {
	ppid  int
	start uint64 // starttime, tells a reused pid from the process it had before
	cpu   time.Duration
}

func readStat(pid int) (procStat, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, false
	}
	// The command name (field 2) may hold spaces and parentheses: the
	// fields that matter follow its last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, false
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, false
	}
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15, starttime 22.
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseUint(f[11], 10, 64)
	st, _ := strconv.ParseUint(f[12], 10, 64)
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return procStat{ppid: ppid, start: start, cpu: time.Duration(float64(ut+st) / clockTicks * float64(time.Second))}, true
}

// children lists every process whose parent is one of pids.
func children(pids map[int]bool) []int {
	ents, _ := os.ReadDir("/proc")
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if st, ok := readStat(pid); ok && pids[st.ppid] {
			out = append(out, pid)
		}
	}
	return out
}

// tree is pid and all its descendants.
func tree(pid int) []int {
	if pid <= 0 {
		return nil
	}
	out := []int{pid}
	level := map[int]bool{pid: true}
	for len(level) > 0 {
		next := map[int]bool{}
		for _, c := range children(level) {
			out = append(out, c)
			next[c] = true
		}
		level = next
	}
	return out
}

// postgresPids is the postmaster, its auxiliary processes (checkpointer,
// WAL writer, autovacuum, ...) and the backends connected to one of dbs:
// every connection is a process, and backends of other databases (other
// stacks sharing this PostgreSQL) are left out.
func postgresPids(postmaster int, dbs []string) []int {
	if postmaster <= 0 {
		return nil
	}
	out := []int{postmaster}
	for _, c := range children(map[int]bool{postmaster: true}) {
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", c))
		if err != nil {
			continue
		}
		line := string(cmd)
		backend := strings.Contains(line, "(") || strings.Contains(line, "[local]")
		mine := false
		for _, db := range dbs {
			if strings.Contains(line, " "+db+" ") {
				mine = true
			}
		}
		if mine || !backend {
			out = append(out, c)
		}
	}
	return out
}

// component is one line of the CPU table: a name and how to find its
// processes at the moment of a snapshot (backends come and go).
type component struct {
	name string
	pids func() []int
}

// cpuSnapshot is the CPU time of every component's processes at one moment.
type cpuSnapshot struct {
	at    time.Time
	procs map[string]map[[2]uint64]time.Duration // component → (pid, starttime) → cpu
}

func snapshot(comps []component) cpuSnapshot {
	s := cpuSnapshot{at: time.Now(), procs: map[string]map[[2]uint64]time.Duration{}}
	for _, c := range comps {
		m := map[[2]uint64]time.Duration{}
		for _, pid := range c.pids() {
			if st, ok := readStat(pid); ok {
				m[[2]uint64{uint64(pid), st.start}] = st.cpu
			}
		}
		s.procs[c.name] = m
	}
	return s
}

// cpuUse is CPU time per component between two snapshots. A process that
// appeared in between counts from zero; one that exited in between is
// lost (the services' pools keep their connections, so this is rare).
type cpuUse struct {
	wall  time.Duration
	names []string
	by    map[string]time.Duration
}

func since(a, b cpuSnapshot, comps []component) cpuUse {
	u := cpuUse{wall: b.at.Sub(a.at), by: map[string]time.Duration{}}
	for _, c := range comps {
		u.names = append(u.names, c.name)
		for k, v := range b.procs[c.name] {
			u.by[c.name] += v - a.procs[c.name][k]
		}
	}
	return u
}

// infraPid asks scripts/infra for a component's main pid (0 when not running).
func infraPid(script, comp string) int {
	out, err := exec.Command(script, "pid", comp).Output()
	if err != nil {
		return 0
	}
	n, _ := strconv.Atoi(strings.TrimSpace(string(out)))
	return n
}

// pidList is a fixed set of processes.
func pidList(pids ...int) func() []int {
	return func() []int { return pids }
}
