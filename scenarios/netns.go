package scenarios

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Runner runs a command and returns its combined output.
type Runner interface {
	Run(ctx context.Context, name string, args ...string) (string, error)
}

// ExecRunner runs commands with os/exec.
type ExecRunner struct{}

// Run runs name with args.
func (ExecRunner) Run(ctx context.Context, name string, args ...string) (string, error) {
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s: %w: %s", cmdline(name, args), err, strings.TrimSpace(out.String()))
	}
	return out.String(), nil
}

// cmdline renders a command for people, quoting arguments with spaces.
func cmdline(name string, args []string) string {
	parts := []string{name}
	for _, a := range args {
		if a == "" || strings.ContainsAny(a, " \t\"'") {
			a = strconv.Quote(a)
		}
		parts = append(parts, a)
	}
	return strings.Join(parts, " ")
}

// NetnsFinder finds a process that lives in a pod's network namespace.
type NetnsFinder interface {
	PID(ctx context.Context, pod *corev1.Pod) (int, error)
}

// ProcNetns finds a pod's processes by their cgroup: on this node the
// kubelet puts every container of the pod (and its sandbox) under a cgroup
// path that holds "pod<UID>" (with '-' or, under systemd, '_').
type ProcNetns struct {
	// Root is the proc file system (default /proc).
	Root string
}

// PID returns the lowest PID of the pod's processes, usually its sandbox.
func (p ProcNetns) PID(_ context.Context, pod *corev1.Pod) (int, error) {
	root := p.Root
	if root == "" {
		root = "/proc"
	}
	uid := string(pod.UID)
	if uid == "" {
		return 0, fmt.Errorf("pod %s/%s has no UID", pod.Namespace, pod.Name)
	}
	keys := []string{"pod" + uid, "pod" + strings.ReplaceAll(uid, "-", "_")}
	entries, err := os.ReadDir(root)
	if err != nil {
		return 0, err
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join(root, e.Name(), "cgroup"))
		if err != nil {
			continue
		}
		s := string(b)
		if strings.Contains(s, keys[0]) || strings.Contains(s, keys[1]) {
			pids = append(pids, pid)
		}
	}
	if len(pids) == 0 {
		return 0, fmt.Errorf("no process of pod %s/%s (uid %s) on this node", pod.Namespace, pod.Name, uid)
	}
	return slices.Min(pids), nil
}

// netnsCmd is a command run inside a pod's network namespace.
type netnsCmd struct {
	pid  int
	name string
	args []string
	// pidText replaces the PID in a dry run that could not find one.
	pidText string
}

func (c netnsCmd) argv() []string {
	pid := strconv.Itoa(c.pid)
	if c.pidText != "" {
		pid = c.pidText
	}
	return append([]string{"--net=/proc/" + pid + "/ns/net", c.name}, c.args...)
}

func (c netnsCmd) String() string { return cmdline("nsenter", c.argv()) }

func (c netnsCmd) run(ctx context.Context, r Runner) (string, error) {
	return r.Run(ctx, "nsenter", c.argv()...)
}
