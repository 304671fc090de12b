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

// cgroupMount is where the host's cgroup filesystems are mounted.
const cgroupMount = "/sys/fs/cgroup"

// Everything of a cluster lives under firedrill/<name> of each hierarchy:
// the components in .../components (containerd shims inherit it), the pods
// in .../kubepods (the kubelet's cgroup root). Teardown therefore finds
// every process of ours through these cgroups alone.
//
// Two layouts are handled. cgroup v1 (and hybrid, where v2 is mounted at
// unified/): one folder per controller; the components cgroup is in the
// freezer hierarchy, which freezes the tree with freezer.state. cgroup v2
// (unified, a fresh Debian 11+ or Ubuntu 21.10+): one tree; the components
// cgroup is in it, processes start in it with clone3's CLONE_INTO_CGROUP
// (SysProcAttr.UseCgroupFD), the tree is killed with cgroup.kill (Linux
// 5.14+) or frozen with cgroup.freeze before its processes are killed.

// cgroupFS is a cgroup filesystem rooted at root (the host's is
// cgroupMount; unit tests use a fake tree).
type cgroupFS struct {
	root string
	// kill sends SIGKILL to pid; nil means syscall.Kill.
	kill func(pid int) error
}

func hostCgroupFS() cgroupFS { return cgroupFS{root: cgroupMount} }

// unified reports a pure cgroup v2 host: cgroup.procs at the root.
func (fs cgroupFS) unified() bool {
	_, err := os.Stat(filepath.Join(fs.root, "cgroup.procs"))
	return err == nil
}

// controllers returns the mounted cgroup hierarchies (folder names under
// the root that hold a cgroup.procs file), e.g. cpu, memory, freezer,
// systemd, and on a hybrid host the cgroup v2 "unified" one, where runc
// also creates the pods' cgroups. A pure cgroup v2 host has one, "".
func (fs cgroupFS) controllers() []string {
	if fs.unified() {
		return []string{""}
	}
	entries, err := os.ReadDir(fs.root)
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
		if _, err := os.Stat(filepath.Join(fs.root, e.Name(), "cgroup.procs")); err == nil {
			out = append(out, e.Name())
		}
	}
	return out
}

// freezerCtrl is the hierarchy holding the components cgroup and the
// freeze switch: "freezer" on v1, the single tree on v2; ok is false when
// there is none.
func (fs cgroupFS) freezerCtrl() (ctrl string, ok bool) {
	if fs.unified() {
		return "", true
	}
	if _, err := os.Stat(filepath.Join(fs.root, "freezer")); err == nil {
		return "freezer", true
	}
	return "", false
}

// cgroupControllers returns the host's cgroup hierarchies.
func cgroupControllers() []string { return hostCgroupFS().controllers() }

func (cl *Cluster) clusterCgroup(ctrl string) string {
	return filepath.Join(cl.cgfs.root, ctrl, cl.cfg.cgroupRoot())
}

// componentsCgroup is the cgroup components start in, or "" when there is
// no freezer hierarchy (v1) or it was not set up.
func (cl *Cluster) componentsCgroup() string {
	ctrl, ok := cl.cgfs.freezerCtrl()
	if !ok {
		return ""
	}
	dir := filepath.Join(cl.clusterCgroup(ctrl), "components")
	if _, err := os.Stat(dir); err != nil {
		return ""
	}
	return dir
}

// componentsCgroupProcs is the cgroup.procs file components join on a v1
// host, or "" (v2 hosts start them in their cgroup with CgroupFD).
func (cl *Cluster) componentsCgroupProcs() string {
	dir := cl.componentsCgroup()
	if dir == "" || cl.cgfs.unified() {
		return ""
	}
	return filepath.Join(dir, "cgroup.procs")
}

// setupCgroups creates firedrill/<name> in every hierarchy (the kubelet
// refuses a cgroup root that does not exist) and the components cgroup in
// the freezer hierarchy (v1) or the single tree (v2).
func (cl *Cluster) setupCgroups() error {
	for _, ctrl := range cl.cgfs.controllers() {
		if err := cl.cgfs.mkCgroup(ctrl, cl.cfg.cgroupRoot()); err != nil {
			return err
		}
	}
	if ctrl, ok := cl.cgfs.freezerCtrl(); ok {
		if err := cl.cgfs.mkCgroup(ctrl, cl.cfg.cgroupRoot()+"/components"); err != nil {
			return err
		}
	}
	return nil
}

// mkCgroup creates rel (and its parents) in ctrl. In the v1 cpuset
// hierarchy a new cgroup starts with no CPUs and memory nodes; copy the
// parent's. On v2, every controller the parent has is enabled for its
// children (cgroup.subtree_control) so that the kubelet's cgroup root has
// cpu, memory, pids...; components sit in a leaf, so the no-internal-
// processes rule holds.
func (fs cgroupFS) mkCgroup(ctrl, rel string) error {
	parts := strings.Split(strings.Trim(rel, "/"), "/")
	cur := filepath.Join(fs.root, ctrl)
	for _, part := range parts {
		parent := cur
		cur = filepath.Join(cur, part)
		if _, err := os.Stat(cur); err != nil && fs.unified() && part != "components" {
			if err := enableSubtree(parent); err != nil {
				return err
			}
		}
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
	if fs.unified() && parts[len(parts)-1] != "components" {
		return enableSubtree(cur)
	}
	return nil
}

// enableSubtree enables, in a v2 cgroup's cgroup.subtree_control, every
// controller listed in its cgroup.controllers that is not enabled yet.
func enableSubtree(dir string) error {
	avail, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil // a fresh cgroup the kernel has not populated (fake trees)
	}
	ctl := filepath.Join(dir, "cgroup.subtree_control")
	on, _ := os.ReadFile(ctl)
	enabled := map[string]bool{}
	for _, c := range strings.Fields(string(on)) {
		enabled[strings.TrimPrefix(c, "+")] = true
	}
	var want []string
	for _, c := range strings.Fields(string(avail)) {
		if !enabled[c] {
			want = append(want, "+"+c)
		}
	}
	if len(want) == 0 {
		return nil
	}
	if os.WriteFile(ctl, []byte(strings.Join(want, " ")), 0o644) == nil {
		return nil
	}
	// One controller the kernel refuses here fails the whole write: enable
	// them one by one; only those the kubelet needs must succeed.
	var errs []error
	for _, c := range want {
		if err := os.WriteFile(ctl, []byte(c), 0o644); err != nil && kubeletControllers[strings.TrimPrefix(c, "+")] {
			errs = append(errs, fmt.Errorf("local: cgroup %s: enable %s: %w", dir, c, err))
		}
	}
	return errors.Join(errs...)
}

// kubeletControllers are the cgroup v2 controllers the kubelet needs in its
// cgroup root.
var kubeletControllers = map[string]bool{"cpu": true, "cpuset": true, "memory": true, "pids": true}

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
	for _, ctrl := range cl.cgfs.controllers() {
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

// killCgroups kills every process left in the cluster's cgroups. On v2
// with cgroup.kill the kernel kills the whole tree at once; otherwise the
// tree is frozen first (freezer.state on v1, cgroup.freeze on v2) so that
// nothing can fork while its processes are killed one by one.
func (cl *Cluster) killCgroups(timeout time.Duration) error {
	fs := cl.cgfs
	kill := fs.kill
	if kill == nil {
		kill = func(pid int) error { return syscall.Kill(pid, syscall.SIGKILL) }
	}
	var thaw func()
	if ctrl, ok := fs.freezerCtrl(); ok && len(cl.cgroupPIDs()) > 0 {
		dir := cl.clusterCgroup(ctrl)
		if fs.unified() {
			if !writeExisting(filepath.Join(dir, "cgroup.kill"), "1") {
				thaw = freezeV2(dir, 2*time.Second)
			}
		} else {
			thaw = freezeV1(dir, 2*time.Second)
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
				_ = kill(pid)
			}
		}
		// A frozen process dies of SIGKILL only once thawed.
		if thaw != nil {
			thaw()
			thaw = nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("local: processes still in the cluster's cgroups after %s: %v", timeout, pids)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if thaw != nil {
		thaw()
	}
	return nil
}

// writeExisting writes v to an existing control file and reports success
// (a missing one, e.g. cgroup.kill before Linux 5.14, is not created).
func writeExisting(path, v string) bool {
	if _, err := os.Stat(path); err != nil {
		return false
	}
	return os.WriteFile(path, []byte(v), 0o644) == nil
}

// freezeV1 freezes a v1 freezer cgroup and returns how to thaw it, or nil
// when it could not be frozen within d.
func freezeV1(dir string, d time.Duration) func() {
	state := filepath.Join(dir, "freezer.state")
	if !writeExisting(state, "FROZEN") {
		return nil
	}
	thaw := func() { _ = os.WriteFile(state, []byte("THAWED"), 0o644) }
	if !waitFile(state, func(s string) bool { return strings.TrimSpace(s) == "FROZEN" }, d) {
		thaw()
		return nil
	}
	return thaw
}

// freezeV2 freezes a v2 cgroup (cgroup.freeze, Linux 5.2+) and returns how
// to thaw it, or nil when it could not be frozen within d.
func freezeV2(dir string, d time.Duration) func() {
	ctl := filepath.Join(dir, "cgroup.freeze")
	if !writeExisting(ctl, "1") {
		return nil
	}
	thaw := func() { _ = os.WriteFile(ctl, []byte("0"), 0o644) }
	frozen := func(s string) bool {
		for _, l := range strings.Split(s, "\n") {
			if strings.TrimSpace(l) == "frozen 1" {
				return true
			}
		}
		return false
	}
	if !waitFile(filepath.Join(dir, "cgroup.events"), frozen, d) {
		thaw()
		return nil
	}
	return thaw
}

// waitFile polls path until ok accepts its content or d passes.
func waitFile(path string, ok func(string) bool, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for {
		b, err := os.ReadFile(path)
		if err != nil {
			return false
		}
		if ok(string(b)) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// removeCgroups removes the cluster's cgroups in every hierarchy, deepest
// first, then (with parent) the shared firedrill parent if it is empty.
func (cl *Cluster) removeCgroups(parent bool) error {
	var errs []error
	for _, ctrl := range cl.cgfs.controllers() {
		for _, dir := range cgroupTree(cl.clusterCgroup(ctrl)) {
			if err := rmdirRetry(dir); err != nil {
				errs = append(errs, err)
			}
		}
		// The shared parent: only if no other cluster uses it.
		if parent {
			_ = syscall.Rmdir(filepath.Join(cl.cgfs.root, ctrl, "firedrill"))
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
