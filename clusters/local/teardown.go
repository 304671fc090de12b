package local

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/firedrill/firedrill/clusters/internal/proc"
)

// teardown removes every trace of the cluster. It works from what is on
// disk and in the kernel alone (PID files, cgroups, mounts, the bridge), so
// it also cleans up after a crash, and it is a no-op when nothing is left.
func (cl *Cluster) teardown(ctx context.Context) error {
	log := cl.cfg.logger
	var errs []error
	_, statErr := os.Stat(cl.p.work)
	existed := statErr == nil

	// 1. The components, by PID file: SIGTERM, then SIGKILL after a grace
	// period. The kubelet goes first so that it restarts nothing.
	refs := cl.pidFiles()
	stop := func(name string, r procRef) error {
		if !r.Alive() {
			return nil
		}
		// The API server and etcd hold their state in the work folder,
		// which is about to go: no need for a long graceful shutdown.
		grace := 10 * time.Second
		if name == compAPIServer || name == compEtcd {
			grace = 3 * time.Second
		}
		start := time.Now()
		err := proc.Stop(r, grace)
		log.Debug("stopped", "component", name, "pid", r.PID, "after", time.Since(start).Round(time.Millisecond))
		return err
	}
	if r, ok := refs[compKubelet]; ok {
		if err := stop(compKubelet, r); err != nil {
			errs = append(errs, err)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	for name, r := range refs {
		if name == compKubelet || !r.Alive() {
			continue
		}
		wg.Add(1)
		go func(name string, r procRef) {
			defer wg.Done()
			if err := stop(name, r); err != nil {
				mu.Lock()
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
				mu.Unlock()
			}
		}(name, r)
	}
	wg.Wait()
	if len(refs) > 0 {
		log.Info("stopped components")
	}

	// 2. Whatever is left in our cgroups: containerd shims, pod processes,
	// a component whose PID file was never written.
	netns := cl.podNetnsInodes()
	if pids := cl.cgroupPIDs(); len(pids) > 0 {
		log.Info("killing pod and shim processes", "count", len(pids))
		log.Debug("left in the cluster's cgroups", "processes", describePIDs(pids))
		if err := cl.killCgroups(15 * time.Second); err != nil {
			errs = append(errs, err)
		}
	}

	// 3. Mounts: everything under the work folder, deepest first (overlay
	// rootfs, shm, kubelet tmpfs/projected volumes, netns), then network
	// namespaces of our pods bind-mounted elsewhere.
	if err := unmountUnder(cl.p.work); err != nil {
		errs = append(errs, err)
	}
	if err := unmountNetns(netns); err != nil {
		errs = append(errs, err)
	}
	ids := cl.ourContainerIDs()
	cl.removeShimSockets(ids)
	cl.removeCNICache(ids)
	cl.removeHostPaths()

	// 4. Host network objects, cgroups, CNI cache, the work folder.
	// The bridge, routes and chains have fixed names shared by every
	// cluster name: without our work folder they are not ours to remove
	// (the folder is created before them and removed after them).
	if existed {
		if err := cl.removeKubeChains(ctx); err != nil {
			errs = append(errs, err)
		}
		if err := cl.teardownNetwork(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	if err := cl.removeCgroups(existed); err != nil {
		errs = append(errs, err)
	}
	if err := os.RemoveAll(cl.p.sockets); err != nil {
		errs = append(errs, fmt.Errorf("local: remove socket folder: %w", err))
	}
	if existed {
		_ = os.Remove(socketRoot) // only when no other cluster uses it
	}
	if err := os.RemoveAll(cl.p.work); err != nil {
		errs = append(errs, fmt.Errorf("local: remove work folder: %w", err))
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	if existed {
		log.Info("cluster removed", "name", cl.cfg.name)
	}
	return nil
}

// describePIDs returns "pid:comm" for each pid, for debug logs.
func describePIDs(pids []int) []string {
	out := make([]string, 0, len(pids))
	for _, pid := range pids {
		comm, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		out = append(out, strconv.Itoa(pid)+":"+strings.TrimSpace(string(comm)))
	}
	return out
}

// podNetnsInodes returns the network namespace inodes of processes in our
// cgroups that are not in the host's network namespace.
func (cl *Cluster) podNetnsInodes() map[uint64]bool {
	host, err := nsInode("/proc/self/ns/net")
	if err != nil {
		return nil
	}
	out := map[uint64]bool{}
	for _, pid := range cl.cgroupPIDs() {
		ino, err := nsInode("/proc/" + strconv.Itoa(pid) + "/ns/net")
		if err == nil && ino != host {
			out[ino] = true
		}
	}
	return out
}

func nsInode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

// unmountNetns unmounts the netns bind mounts in /run/netns (where CNI
// runtimes put them by default) that belong to our pods.
func unmountNetns(inodes map[uint64]bool) error {
	if len(inodes) == 0 {
		return nil
	}
	var errs []error
	for _, dir := range []string{"/run/netns", "/var/run/netns"} {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			p := filepath.Join(dir, e.Name())
			if ino, err := nsInode(p); err == nil && inodes[ino] {
				if err := unix.Unmount(p, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) {
					errs = append(errs, fmt.Errorf("local: unmount %s: %w", p, err))
					continue
				}
				_ = os.Remove(p)
			}
		}
	}
	return errors.Join(errs...)
}

// mountsUnder returns the mount points at or below dir, deepest first.
func mountsUnder(dir string) ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir = filepath.Clean(dir)
	var out []string
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 64<<10), 1<<20)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) < 5 {
			continue
		}
		mp := unescapeMount(fields[4])
		if mp == dir || strings.HasPrefix(mp, dir+"/") {
			out = append(out, mp)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return strings.Count(out[i], "/") > strings.Count(out[j], "/") })
	return out, s.Err()
}

// unescapeMount decodes mountinfo's octal escapes (\040 for a space...).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// unmountUnder unmounts every mount below dir, deepest first, retrying a
// few rounds (a mount can be stacked) and detaching lazily as a last resort.
func unmountUnder(dir string) error {
	var last []string
	for round := 0; round < 5; round++ {
		mps, err := mountsUnder(dir)
		if err != nil {
			return fmt.Errorf("local: read mounts: %w", err)
		}
		if len(mps) == 0 {
			return nil
		}
		last = mps
		for _, mp := range mps {
			flags := 0
			if round >= 2 {
				flags = unix.MNT_DETACH
			}
			_ = unix.Unmount(mp, flags)
		}
	}
	if mps, _ := mountsUnder(dir); len(mps) > 0 {
		return fmt.Errorf("local: still mounted under %s: %v", dir, last)
	}
	return nil
}

// ourContainerIDs returns the ids of the containers and sandboxes our
// containerd ran, from its task bundles.
func (cl *Cluster) ourContainerIDs() map[string][]string {
	out := map[string][]string{}
	bundles := filepath.Join(cl.p.ctrState, "io.containerd.runtime.v2.task")
	nss, _ := os.ReadDir(bundles)
	for _, ns := range nss {
		ids, _ := os.ReadDir(filepath.Join(bundles, ns.Name()))
		for _, id := range ids {
			out[ns.Name()] = append(out[ns.Name()], id.Name())
		}
	}
	return out
}

// removeShimSockets removes the sockets containerd 1.6 shims leave in
// /run/containerd/s when they are killed. Their names are the sha256 of
// <containerd address>/<namespace>/<id>, so only ours are touched.
func (cl *Cluster) removeShimSockets(ids map[string][]string) {
	for ns, list := range ids {
		for _, id := range list {
			sum := sha256.Sum256([]byte(filepath.Join(cl.p.ctrSock, ns, id)))
			_ = os.Remove(filepath.Join("/run/containerd/s", hex.EncodeToString(sum[:])))
		}
	}
}

// removeCNICache removes the result cache files libcni keeps in
// /var/lib/cni/results for our pod sandboxes (named
// <network>-<sandbox id>-<ifname>, for our network and CNI's loopback).
func (cl *Cluster) removeCNICache(ids map[string][]string) {
	const dir = "/var/lib/cni/results"
	entries, _ := os.ReadDir(dir)
	ours := map[string]bool{}
	for _, list := range ids {
		for _, id := range list {
			ours[id] = true
		}
	}
	for _, e := range entries {
		name := e.Name()
		for _, net := range []string{cl.cfg.networkName(), "cni-loopback"} {
			rest, ok := strings.CutPrefix(name, net+"-")
			if !ok {
				continue
			}
			if id, _, _ := strings.Cut(rest, "-"); ours[id] || net == cl.cfg.networkName() {
				_ = os.Remove(filepath.Join(dir, name))
			}
		}
	}
}

// lookPath finds a host tool on PATH or in the usual sbin folders, which a
// non-login root shell may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, d := range []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"} {
		p := filepath.Join(d, name)
		if st, err := os.Stat(p); err == nil && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("local: %s not found", name)
}
