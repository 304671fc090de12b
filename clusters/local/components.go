package local

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Component names, in start order.
const (
	compEtcd              = "etcd"
	compContainerd        = "containerd"
	compAPIServer         = "kube-apiserver"
	compControllerManager = "kube-controller-manager"
	compScheduler         = "kube-scheduler"
	compKubelet           = "kubelet"
)

// componentOrder is the start order; teardown goes in reverse.
var componentOrder = []string{compEtcd, compContainerd, compAPIServer, compControllerManager, compScheduler, compKubelet}

// component is one supervised process.
type component struct {
	name string
	bin  string
	args []string
	// health returns nil when the component answers its health endpoint.
	health func(ctx context.Context) error
	// timeout bounds the wait for the first healthy answer.
	timeout time.Duration
}

// procRef identifies a process we started: its PID and its start time in
// clock ticks since boot (field 22 of /proc/PID/stat), so that a recycled PID
// is never mistaken for ours.
type procRef struct {
	PID   int
	Start uint64
}

// running is a component started by this process.
type running struct {
	comp   component
	ref    procRef
	exited chan struct{} // closed when the process has been reaped
	err    error         // exit status, valid after exited is closed
}

// start launches comp detached from our session (so that the cluster
// outlives `firedrill cluster up` and a Ctrl-C in the terminal), logs to
// logs/<name>.log, joins the components' freezer cgroup before exec (via a
// tiny sh wrapper, so that no child escapes it) and records a PID file.
func (cl *Cluster) start(comp component) (*running, error) {
	p := cl.p
	logFile, err := os.OpenFile(cl.logPath(comp.name), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("local: %s: %w", comp.name, err)
	}
	defer logFile.Close()
	fmt.Fprintf(logFile, "=== %s: %s %s\n", time.Now().UTC().Format(time.RFC3339), comp.bin, strings.Join(comp.args, " "))

	procs := cl.componentsCgroupProcs()
	script := `exec "$@"`
	args := []string{"-c", script, "firedrill-" + comp.name}
	if procs != "" {
		script = `echo $$ > "$1" || exit 97; shift; exec "$@"`
		args = []string{"-c", script, "firedrill-" + comp.name, procs}
	}
	args = append(args, comp.bin)
	args = append(args, comp.args...)
	cmd := exec.Command("/bin/sh", args...)
	cmd.Dir = p.work
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = componentEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("local: start %s: %w", comp.name, err)
	}
	r := &running{comp: comp, exited: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.exited)
	}()
	st, err := procStart(cmd.Process.Pid)
	if err != nil {
		return nil, fmt.Errorf("local: start %s: %w (log: %s)", comp.name, err, cl.logTail(comp.name))
	}
	r.ref = procRef{PID: cmd.Process.Pid, Start: st}
	if err := writePIDFile(cl.pidPath(comp.name), r.ref); err != nil {
		return nil, err
	}
	cl.cfg.logger.Info("started", "component", comp.name, "pid", r.ref.PID)
	return r, nil
}

// waitHealthy polls r's health check until it passes, the process exits,
// r.comp.timeout passes or ctx ends.
func (cl *Cluster) waitHealthy(ctx context.Context, r *running) error {
	ctx, cancel := context.WithTimeout(ctx, r.comp.timeout)
	defer cancel()
	start := time.Now()
	var last error
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		hctx, hcancel := context.WithTimeout(ctx, 2*time.Second)
		last = r.comp.health(hctx)
		hcancel()
		if last == nil {
			cl.cfg.logger.Info("healthy", "component", r.comp.name, "after", time.Since(start).Round(10*time.Millisecond))
			return nil
		}
		select {
		case <-r.exited:
			return cl.componentError(r.comp.name, fmt.Errorf("exited: %v", r.err))
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return cl.componentError(r.comp.name, fmt.Errorf("not healthy after %s: %v", r.comp.timeout, last))
			}
			// Interrupted (Ctrl-C): no log tail, the component did
			// nothing wrong.
			return fmt.Errorf("local: waiting for %s: %w", r.comp.name, context.Cause(ctx))
		case <-tick.C:
		}
	}
}

// ComponentError is returned when a component fails to come up. Log holds
// the last lines of its log.
type ComponentError struct {
	Component string
	Err       error
	Log       string
}

func (e *ComponentError) Error() string {
	return fmt.Sprintf("local: %s: %v\n--- last lines of %s log ---\n%s", e.Component, e.Err, e.Component, e.Log)
}

func (e *ComponentError) Unwrap() error { return e.Err }

func (cl *Cluster) componentError(name string, err error) error {
	return &ComponentError{Component: name, Err: err, Log: cl.logTail(name)}
}

func (cl *Cluster) logPath(name string) string { return filepath.Join(cl.p.logs, name+".log") }
func (cl *Cluster) pidPath(name string) string { return filepath.Join(cl.p.run, name+".pid") }

// logTail returns the last 20 lines of a component's log.
func (cl *Cluster) logTail(name string) string {
	return tailFile(cl.logPath(name), 20)
}

func tailFile(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	defer f.Close()
	const max = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > max {
		_, _ = f.Seek(st.Size()-max, 0)
	}
	buf := new(bytes.Buffer)
	_, _ = buf.ReadFrom(f)
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func componentEnv() []string {
	env := []string{}
	for _, kv := range os.Environ() {
		// Never hand our own kubeconfig or proxies to the components.
		k, _, _ := strings.Cut(kv, "=")
		switch strings.ToUpper(k) {
		case "KUBECONFIG", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "PATH":
			continue
		}
		env = append(env, kv)
	}
	return append(env, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
}

func writePIDFile(path string, r procRef) error {
	data := fmt.Sprintf("%d %d\n", r.PID, r.Start)
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		return fmt.Errorf("local: pid file: %w", err)
	}
	return nil
}

func readPIDFile(path string) (procRef, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return procRef{}, err
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return procRef{}, fmt.Errorf("local: malformed pid file %s", path)
	}
	pid, err1 := strconv.Atoi(f[0])
	st, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return procRef{}, fmt.Errorf("local: malformed pid file %s", path)
	}
	return procRef{PID: pid, Start: st}, nil
}

// procStat returns the state letter and start time of pid.
func procStat(pid int) (state byte, start uint64, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: parse
	// after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	// f[0] is field 3 (state); field 22 (starttime) is f[19].
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	return f[0][0], start, nil
}

func procStart(pid int) (uint64, error) {
	_, st, err := procStat(pid)
	return st, err
}

// alive reports whether the process r is still running (not a zombie and
// not a recycled PID).
func (r procRef) alive() bool {
	state, st, err := procStat(r.PID)
	return err == nil && st == r.Start && state != 'Z' && state != 'X'
}

// stopProc sends SIGTERM, waits up to grace, then SIGKILLs and waits up to
// 5 s more. It returns nil once the process is gone.
func stopProc(r procRef, grace time.Duration) error {
	if !r.alive() {
		return nil
	}
	_ = syscall.Kill(r.PID, syscall.SIGTERM)
	if waitGone(r, grace) {
		return nil
	}
	_ = syscall.Kill(r.PID, syscall.SIGKILL)
	if waitGone(r, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("local: process %d did not exit after SIGKILL", r.PID)
}

func waitGone(r procRef, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		if !r.alive() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pidFiles returns the processes recorded in the work folder, by component.
func (cl *Cluster) pidFiles() map[string]procRef {
	out := map[string]procRef{}
	for _, name := range componentOrder {
		if r, err := readPIDFile(cl.pidPath(name)); err == nil {
			out[name] = r
		}
	}
	return out
}

// PIDs returns the PIDs of the cluster's running components by name.
func (cl *Cluster) PIDs() map[string]int {
	out := map[string]int{}
	for name, r := range cl.pidFiles() {
		if r.alive() {
			out[name] = r.PID
		}
	}
	return out
}
