// Package stacktest shares one real demo stack among the tests of a test
// binary: it takes the machine-wide local cluster lock, brings the stack up
// on first use (or skips, or fails under make test, where it cannot run),
// and in TestMain takes it down and checks that no process, bridge or port
// of it is left.
package stacktest

import (
	"context"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/firedrill/firedrill/clusters/internal/proc"
	"github.com/firedrill/firedrill/clusters/local"
	"github.com/firedrill/firedrill/clusters/local/postgres"
	"github.com/firedrill/firedrill/clusters/local/prometheus"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/internal/testenv"
)

// Shared is one demo stack for a test binary. Declare it as a package
// variable, call Stack from tests and Main from TestMain.
type Shared struct {
	// Name is the cluster name (it names the cgroups); keep it short.
	Name string
	// SourceDir is the firedrill source tree, relative to the test's
	// package folder (e.g. "../..").
	SourceDir string

	once   sync.Once
	mu     sync.Mutex         // guards the three fields below it
	cancel context.CancelFunc // cancels up while it runs
	upDone chan struct{}      // closed when up has returned
	closed bool               // torn down: up must not start
	stack  *stack.Stack
	chains []string // KUBE-* iptables chains before the stack came up
	home   string
	err    error
	unlock func()
}

// Logger logs the stack's progress when tests run with -v.
func Logger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

// Stack returns the running demo stack, bringing it up on first use, or
// skips tb where it cannot run.
func (s *Shared) Stack(tb testing.TB) *stack.Stack {
	tb.Helper()
	testenv.Integration(tb,
		filepath.Join(prometheus.DefaultBinDir(), "prometheus"),
		filepath.Join(prometheus.DefaultBinDir(), "promtool"))
	if err := local.New().Preflight(); err != nil {
		testenv.Missing(tb, err.Error())
	}
	if _, err := postgres.FindBinDir(); err != nil {
		testenv.Missing(tb, err.Error())
	}
	s.once.Do(s.up)
	if s.err != nil {
		tb.Fatalf("bringing up the demo stack: %v", s.err)
	}
	return s.stack
}

func (s *Shared) up() {
	base, stop := context.WithCancel(context.Background())
	defer stop()
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.err = fmt.Errorf("the test binary is shutting down")
		return
	}
	s.cancel, s.upDone = stop, make(chan struct{})
	defer close(s.upDone)
	s.mu.Unlock()
	// One local cluster per machine: hold the lock until Main has taken
	// the stack down.
	lctx, cancel := context.WithTimeout(base, 15*time.Minute)
	defer cancel()
	if s.unlock, s.err = local.LockMachine(lctx); s.err != nil {
		return
	}
	// A cluster whose test binary lost the lock may still be there: wait
	// for it to go rather than fail on its ports.
	if s.err = waitNoOtherCluster(lctx); s.err != nil {
		return
	}
	s.chains = kubeChains()
	root, err := filepath.Abs(s.SourceDir)
	if err != nil {
		s.err = err
		return
	}
	// A short home: the kubelet's unix sockets must fit in 108 bytes.
	if s.home, s.err = os.MkdirTemp("", "fd"); s.err != nil {
		return
	}
	log := Logger()
	cl := local.New(local.WithName(s.Name), local.WithHome(s.home), local.WithModuleDir(root), local.WithLogger(log))
	s.stack = stack.New(stack.WithCluster(cl), stack.WithSourceDir(root), stack.WithLogger(log), stack.WithTimeout(2*time.Minute))
	ctx, cancel2 := context.WithTimeout(base, 6*time.Minute)
	defer cancel2()
	start := time.Now()
	s.err = s.stack.Up(ctx)
	fmt.Fprintf(os.Stderr, "demo stack %s for tests: up in %s (err=%v)\n", s.Name, time.Since(start).Round(time.Millisecond), s.err)
}

// Main runs the tests, then takes the stack down, checks nothing of it is
// left, releases the lock and exits.
func (s *Shared) Main(m *testing.M) {
	finish := testenv.TearDownOnSignal("demo stack "+s.Name+" for tests", s.teardown)
	code := m.Run()
	if err := finish(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tearing down the demo stack: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

// teardown stops a bring-up still in progress (an interrupt can come at
// any time), takes the stack down and checks that nothing of it is left,
// removes its folder and releases the machine lock.
func (s *Shared) teardown() error {
	s.mu.Lock()
	s.closed = true
	cancel, upDone := s.cancel, s.upDone
	s.mu.Unlock()
	if cancel != nil {
		cancel()
		<-upDone
	}
	var err error
	if s.stack != nil {
		err = s.downAndCheckClean()
	}
	if s.home != "" {
		_ = os.RemoveAll(s.home)
	}
	if s.unlock != nil {
		s.unlock()
	}
	return err
}

// waitNoOtherCluster waits until no local cluster or demo stack runs on
// the machine: the bridge is gone and the ports of etcd, Prometheus and
// PostgreSQL are free (an orphaned PostgreSQL stops on its own within a
// minute of its folder going).
func waitNoOtherCluster(ctx context.Context) error {
	busy := func() string {
		if _, err := net.InterfaceByName(local.DefaultBridge); err == nil {
			return "bridge " + local.DefaultBridge + " exists"
		}
		for _, addr := range []string{"127.0.0.1:2379", prometheus.DefaultListen, fmt.Sprintf("127.0.0.1:%d", postgres.DefaultPort)} {
			l, err := net.Listen("tcp", addr)
			if err != nil {
				return err.Error()
			}
			_ = l.Close()
		}
		return ""
	}
	var why string
	err := wait.PollUntilContextCancel(ctx, time.Second, true, func(context.Context) (bool, error) {
		why = busy()
		return why == "", nil
	})
	if err != nil {
		return fmt.Errorf("another local cluster runs although this binary holds %s (%s): %w", local.MachineLockPath, why, err)
	}
	return nil
}

// downAndCheckClean takes the stack down and verifies that no process it
// had is alive (cluster components with kube-proxy, containers,
// PostgreSQL, Prometheus), that the bridge is gone, that the loopback ports
// are free again and that the KUBE-* iptables chains of the kubelet and
// kube-proxy are gone.
func (s *Shared) downAndCheckClean() error {
	st := s.stack
	ps := processes{}
	for name, pid := range st.Cluster().PIDs() {
		ps.add(name, pid)
	}
	ps.addCgroups(s.Name)
	if pg, err := st.Postgres(); err == nil {
		ps.addGroup("postgres", pg.PID())
	}
	ps.addGroup("prometheus", st.Prometheus().PID())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	if err := st.Down(ctx); err != nil {
		return fmt.Errorf("down: %w", err)
	}
	fmt.Fprintf(os.Stderr, "demo stack %s for tests: down in %s, checking %d processes\n", s.Name, time.Since(start).Round(time.Millisecond), len(ps))
	// Down returns once every process is stopped; the short poll only
	// lets the kernel finish reaping.
	var alive []string
	_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		alive = ps.alive()
		return len(alive) == 0, nil
	})
	var problems []string
	if len(alive) > 0 {
		problems = append(problems, "still running: "+strings.Join(alive, ", "))
	}
	if _, err := net.InterfaceByName(local.DefaultBridge); err == nil {
		problems = append(problems, "bridge "+local.DefaultBridge+" still exists")
	}
	for _, addr := range []string{prometheus.DefaultListen, fmt.Sprintf("127.0.0.1:%d", postgres.DefaultPort)} {
		if l, err := net.Listen("tcp", addr); err != nil {
			problems = append(problems, addr+" still taken: "+err.Error())
		} else {
			_ = l.Close()
		}
	}
	if after := kubeChains(); !slices.Equal(after, s.chains) {
		problems = append(problems, fmt.Sprintf("KUBE-* iptables chains differ: before %v, after %v", s.chains, after))
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// kubeChains lists the KUBE-* chains of the filter, nat and mangle tables
// for IPv4 and IPv6, as "family table chain", sorted.
func kubeChains() []string {
	var out []string
	for _, fam := range []string{"iptables", "ip6tables"} {
		for _, table := range []string{"filter", "nat", "mangle"} {
			b, err := exec.Command(fam, "-w", "5", "-t", table, "-S").Output()
			if err != nil {
				continue
			}
			for _, line := range strings.Split(string(b), "\n") {
				if c, ok := strings.CutPrefix(strings.TrimSpace(line), "-N "); ok && strings.HasPrefix(c, "KUBE-") {
					out = append(out, fam+" "+table+" "+c)
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

// processes records the live processes of the stack so that the teardown
// check can tell whether any survived.
type processes map[string]proc.Ref

func (p processes) add(name string, pid int) {
	if pid <= 0 {
		return
	}
	if r, err := proc.Of(pid); err == nil {
		p[name] = r
	}
}

// addGroup adds every process whose process group is pgid (PostgreSQL's
// and Prometheus's children run in their leader's group).
func (p processes) addGroup(name string, pgid int) {
	if pgid <= 0 {
		return
	}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// Fields after the parenthesised command: state ppid pgrp ...
		s := string(b)
		if i := strings.LastIndexByte(s, ')'); i >= 0 {
			if f := strings.Fields(s[i+1:]); len(f) > 2 && f[2] == strconv.Itoa(pgid) {
				p.add(fmt.Sprintf("%s[%d]", name, pid), pid)
			}
		}
	}
}

// addCgroups adds every process in a cgroup named firedrill/<cluster> in
// any hierarchy (the components, containerd's shims and the pods).
func (p processes) addCgroups(cluster string) {
	roots, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup", "*", "firedrill", cluster))
	roots = append(roots, filepath.Join("/sys/fs/cgroup", "firedrill", cluster))
	for _, root := range roots {
		_ = filepath.WalkDir(root, func(path string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() || de.Name() != "cgroup.procs" {
				return nil
			}
			b, _ := os.ReadFile(path)
			for _, f := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(f); err == nil {
					p.add(fmt.Sprintf("cgroup %s pid %d", filepath.Dir(path), pid), pid)
				}
			}
			return nil
		})
	}
}

// alive lists the recorded processes still running.
func (p processes) alive() []string {
	var out []string
	for name, r := range p {
		if r.Alive() {
			out = append(out, fmt.Sprintf("%s (pid %d)", name, r.PID))
		}
	}
	slices.Sort(out)
	return out
}
