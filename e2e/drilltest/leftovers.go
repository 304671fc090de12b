package drilltest

import (
	"context"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/firedrill/firedrill/clusters/local"
	"github.com/firedrill/firedrill/clusters/local/postgres"
	"github.com/firedrill/firedrill/clusters/local/prometheus"
)

// process identifies one process across PID reuse: its PID and its start
// time in clock ticks since boot (field 22 of /proc/PID/stat).
type process struct {
	name  string
	pid   int
	start string
}

// procStat returns the fields of /proc/PID/stat after the command name.
func procStat(pid int) ([]string, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return nil, false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return nil, false
	}
	return strings.Fields(s[i+1:]), true
}

func (p process) alive() bool {
	f, ok := procStat(p.pid)
	// f[0] is the state (field 3), f[19] the start time (field 22); a
	// zombie has exited.
	return ok && len(f) > 19 && f[19] == p.start && f[0] != "Z"
}

// recordProcesses lists the live processes of what st started: the
// cluster's components, everything in its cgroups (containerd's shims and
// the pods), and PostgreSQL's and Prometheus's process groups.
func recordProcesses(st *localState) []process {
	var out []process
	add := func(name string, pid int) {
		if f, ok := procStat(pid); ok && pid > 0 && len(f) > 19 {
			out = append(out, process{name: name, pid: pid, start: f[19]})
		}
	}
	cl := st.provider.Cluster()
	for name, pid := range cl.PIDs() {
		add(name, pid)
	}
	roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "firedrill", st.name))
	roots = append(roots, filepath.Join("/sys/fs/cgroup", "firedrill", st.name))
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() || de.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(path)
			for _, s := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(s); err == nil {
					add("cgroup "+filepath.Dir(path), pid)
				}
			}
			return nil
		})
	}
	if st.stack == nil {
		return out
	}
	groups := map[string]int{"prometheus": st.stack.Prometheus().PID()}
	if pg, err := st.stack.Postgres(); err == nil {
		groups["postgres"] = pg.PID()
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f, ok := procStat(pid)
		if !ok || len(f) < 3 {
			continue
		}
		for name, pgid := range groups {
			if pgid > 0 && f[2] == strconv.Itoa(pgid) {
				add(name, pid)
			}
		}
	}
	return out
}

// checkGone verifies, after Down, that none of procs is alive, that the
// bridge is gone and that the cluster's (and the stack's) loopback ports
// are free. Down returns once every process is stopped; the short poll
// only lets the kernel finish reaping.
func checkGone(ctx context.Context, procs []process, withStack bool) error {
	var alive []string
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		alive = alive[:0]
		for _, p := range procs {
			if p.alive() {
				alive = append(alive, fmt.Sprintf("%s (pid %d)", p.name, p.pid))
			}
		}
		return len(alive) == 0, nil
	})
	var problems []string
	if len(alive) > 0 {
		slices.Sort(alive)
		problems = append(problems, "still running: "+strings.Join(alive, ", "))
	}
	if _, err := net.InterfaceByName(local.DefaultBridge); err == nil {
		problems = append(problems, "bridge "+local.DefaultBridge+" still exists")
	}
	ports := []string{"127.0.0.1:2379", "127.0.0.1:6443"}
	if withStack {
		ports = append(ports, prometheus.DefaultListen, fmt.Sprintf("127.0.0.1:%d", postgres.DefaultPort))
	}
	for _, addr := range ports {
		if err := portFree(addr); err != nil {
			problems = append(problems, err.Error())
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("drilltest: left behind after down: %s", strings.Join(problems, "; "))
	}
	return nil
}
