package local

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/firedrill/firedrill/clusters/internal/proc"
)

// Component names, in start order.
const (
	compEtcd              = "etcd"
	compContainerd        = "containerd"
	compAPIServer         = "kube-apiserver"
	compControllerManager = "kube-controller-manager"
	compScheduler         = "kube-scheduler"
	compKubelet           = "kubelet"
	compKubeProxy         = "kube-proxy"
)

// componentOrder is the start order; teardown goes in reverse.
var componentOrder = []string{compEtcd, compContainerd, compAPIServer, compControllerManager, compScheduler, compKubelet, compKubeProxy}

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

// procRef identifies a process we started by PID and start time, so that a
// recycled PID is never mistaken for ours.
type procRef = proc.Ref

// running is a component started by this process.
type running struct {
	comp   component
	ref    procRef
	exited chan struct{} // closed when the process has been reaped
	err    error         // exit status, valid after exited is closed
}

// start launches comp detached from our session (so that the cluster
// outlives `firedrill cluster up` and a Ctrl-C in the terminal), logs to
// logs/<name>.log, joins the components' cgroup before exec (cgroup v1: via
// a tiny sh wrapper writing the freezer cgroup's cgroup.procs; v2: started
// in it by clone3), so that no child escapes it, and records a PID file.
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
	if dir := cl.componentsCgroup(); dir != "" && cl.cgfs.unified() {
		// cgroup v2: clone3 starts the process in the cgroup, so not even
		// the shell runs outside it.
		cg, err := os.Open(dir)
		if err != nil {
			return nil, fmt.Errorf("local: start %s: cgroup: %w", comp.name, err)
		}
		defer cg.Close()
		cmd.SysProcAttr.UseCgroupFD = true
		cmd.SysProcAttr.CgroupFD = int(cg.Fd())
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("local: start %s: %w", comp.name, err)
	}
	r := &running{comp: comp, exited: make(chan struct{})}
	go func() {
		r.err = cmd.Wait()
		close(r.exited)
	}()
	ref, err := proc.Of(cmd.Process.Pid)
	if err != nil {
		return nil, fmt.Errorf("local: start %s: %w (log: %s)", comp.name, err, cl.logTail(comp.name))
	}
	r.ref = ref
	if err := proc.WritePIDFile(cl.pidPath(comp.name), r.ref); err != nil {
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
	return proc.TailFile(cl.logPath(name), 20)
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

// pidFiles returns the processes recorded in the work folder, by component.
func (cl *Cluster) pidFiles() map[string]procRef {
	out := map[string]procRef{}
	for _, name := range componentOrder {
		if r, err := proc.ReadPIDFile(cl.pidPath(name)); err == nil {
			out[name] = r
		}
	}
	return out
}

// PIDs returns the PIDs of the cluster's running components by name.
func (cl *Cluster) PIDs() map[string]int {
	out := map[string]int{}
	for name, r := range cl.pidFiles() {
		if r.Alive() {
			out[name] = r.PID
		}
	}
	return out
}
