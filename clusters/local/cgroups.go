package local

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// cgroupMount is the root of the cgroup v1 hierarchies.
const cgroupMount = "/sys/fs/cgroup"

// Everything of a cluster lives under <controller>/firedrill/<name>: the
// components in .../components of the freezer hierarchy (containerd shims
// inherit it), the pods in .../kubepods (the kubelet's cgroup root). Teardown
// therefore finds every process of ours through these cgroups alone.

// cgroupControllers returns the mounted cgroup hierarchies (folder names
// under /sys/fs/cgroup that hold a cgroup.procs file), e.g. cpu, memory,
// freezer, systemd, and on a hybrid host the cgroup v2 "unified" one, where
// runc also creates the pods' cgroups.
func cgroupControllers() []string {
	if _, err := os.Stat(filepath.Join(cgroupMount, "cgroup.procs")); err == nil {
		return []string{""} // a pure cgroup v2 host: one hierarchy
	}
	entries, err := os.ReadDir(cgroupMount)
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		// Skip symlinks such as cpu,cpuacct -> cpu (ReadDir reports them
		// as non-dirs) and controllers without cgroup.procs.
		if _, err := os.Stat(filepath.Join(cgroupMount, e.Name(), "cgroup.procs")); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

func (cl *Cluster) clusterCgroup(ctrl string) string {
	return filepath.Join(cgroupMount, ctrl, cl.cfg.cgroupRoot())
}

// componentsCgroupProcs is the cgroup.procs file components join, or ""
// when there is no freezer hierarchy.
func (cl *Cluster) componentsCgroupProcs() string {
	dir := filepath.Join(cl.clusterCgroup("freezer"), "components")
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return filepath.Join(dir, "cgroup.procs")
}

// setupCgroups creates firedrill/<name> in every hierarchy (the kubelet
// refuses a cgroup root that does not exist) and the components cgroup in
// the freezer hierarchy.
func (cl *Cluster) setupCgroups() error {
	for _, ctrl := range cgroupControllers() {
		if err := mkCgroup(ctrl, cl.cfg.cgroupRoot()); err != nil {
			return err
		}
	}
	if _, err := os.Stat(filepath.Join(cgroupMount, "freezer")); err == nil {
		if err := mkCgroup("freezer", cl.cfg.cgroupRoot()+"/components"); err != nil {
			return err
		}
	}
	return nil
}

// mkCgroup creates rel (and its parents) in ctrl. In the cpuset hierarchy a
// new cgroup starts with no CPUs and memory nodes; copy the parent's.
func mkCgroup(ctrl, rel string) error {
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	cur := filepath.Join(cgroupMount, ctrl)
	for _, part := range parts {
		parent := cur
		cur = filepath.Join(cur, part)
		if err := os.Mkdir(cur, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("local: cgroup %s: %w", cur, err)
		}
		if ctrl == "cpuset" {
			for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
				b, err := os.ReadFile(filepath.Join(cur, f))
				if err == nil && strings.TrimSpace(string(b)) != "" {
					continue
				}
				pv, err := os.ReadFile(filepath.Join(parent, f))
				if err != nil {
					return fmt.Errorf("local: cgroup %s: %w", cur, err)
				}
				if err := os.WriteFile(filepath.Join(cur, f), pv, 0o644); err != nil {
					return fmt.Errorf("local: cgroup %s/%s: %w", cur, f, err)
				}
			}
		}
	}
	return nil
}

// cgroupTree returns dir and every cgroup below it, deepest first.
func cgroupTree(dir string) []string {
	var out []string
	_ = filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			out = append(out, path)
		}
		return nil
	})
	sort.Slice(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out
}

// cgroupPIDs returns every process in the cluster's cgroups of any
// hierarchy.
func (cl *Cluster) cgroupPIDs() []int {
	seen := map[int]bool{}
	var out []int
	for _, ctrl := range cgroupControllers() {
		for _, dir := range cgroupTree(cl.clusterCgroup(ctrl)) {
			for _, pid := range readProcs(filepath.Join(dir, "cgroup.procs")) {
				if !seen[pid] {
					seen[pid] = true
					out = append(out, pid)
				}
			}
		}
	}
	return out
}

func readProcs(path string) []int {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []int
	s := bufio.NewScanner(f)
	for s.Scan() {
		if pid, err := strconv.Atoi(strings.TrimSpace(s.Text())); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out
}

// killCgroups kills every process left in the cluster's cgroups. With a
// freezer hierarchy the whole tree is frozen first so that nothing can fork
// while it is being killed.
func (cl *Cluster) killCgroups(timeout time.Duration) error {
	freezer := cl.clusterCgroup("freezer")
	state := filepath.Join(freezer, "freezer.state")
	frozen := false
	if _, err := os.Stat(state); err == nil && len(cl.cgroupPIDs()) > 0 {
		if os.WriteFile(state, []byte("FROZEN"), 0o644) == nil {
			frozen = waitFrozen(state, 2*time.Second)
		}
	}
	deadline := time.Now().Add(timeout)
	for {
		pids := cl.cgroupPIDs()
		if len(pids) == 0 {
			break
		}
		for _, pid := range pids {
			if pid != os.Getpid() {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if frozen {
			_ = os.WriteFile(state, []byte("THAWED"), 0o644)
			frozen = false
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("local: processes still in the cluster's cgroups after %s: %v", timeout, pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if frozen {
		_ = os.WriteFile(state, []byte("THAWED"), 0o644)
	}
	return nil
}

func waitFrozen(state string, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		b, err := os.ReadFile(state)
		if err != nil {
			return false
		}
		if strings.TrimSpace(string(b)) == "FROZEN" {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// removeCgroups removes the cluster's cgroups in every hierarchy, deepest
// first, then (with parent) the shared firedrill parent if it is empty.
func (cl *Cluster) removeCgroups(parent bool) error {
	var errs []error
	for _, ctrl := range cgroupControllers() {
		for _, dir := range cgroupTree(cl.clusterCgroup(ctrl)) {
			if err := rmdirRetry(dir); err != nil {
				errs = append(errs, err)
			}
		}
		// The shared parent: only if no other cluster uses it.
		if parent {
			_ = syscall.Rmdir(filepath.Join(cgroupMount, ctrl, "firedrill"))
		}
	}
	return errors.Join(errs...)
}

// rmdirRetry retries briefly: a cgroup stays busy for a moment after its
// last process was reaped.
func rmdirRetry(dir string) error {
	var err error
	for i := 0; i < 50; i++ {
		err = syscall.Rmdir(dir)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("local: remove cgroup %s: %w", dir, err)
}
