package local

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// fakeFile writes content to root/rel, creating its folders.
func fakeFile(t *testing.T, root, rel, content string) {
	t.Helper()
	p := filepath.Join(root, rel)
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
}

func readFake(t *testing.T, root, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root, rel))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// fakeV1 is a cgroup v1 host: one hierarchy per controller, cpu,cpuacct a
// symlink, a cpuset with CPUs and memory nodes, hybrid's unified tree.
func fakeV1(t *testing.T) string {
	root := t.TempDir()
	for _, c := range []string{"cpu", "memory", "freezer", "pids", "unified"} {
		fakeFile(t, root, c+"/cgroup.procs", "1\n")
	}
	fakeFile(t, root, "cpuset/cgroup.procs", "1\n")
	fakeFile(t, root, "cpuset/cpuset.cpus", "0-1\n")
	fakeFile(t, root, "cpuset/cpuset.mems", "0\n")
	require.NoError(t, os.Symlink("cpu", filepath.Join(root, "cpu,cpuacct")))
	require.NoError(t, os.MkdirAll(filepath.Join(root, "net_cls"), 0o755)) // no cgroup.procs
	return root
}

// fakeV2 is a pure cgroup v2 host.
func fakeV2(t *testing.T) string {
	root := t.TempDir()
	fakeFile(t, root, "cgroup.procs", "1\n")
	fakeFile(t, root, "cgroup.controllers", "cpuset cpu io memory pids\n")
	fakeFile(t, root, "cgroup.subtree_control", "memory\n")
	return root
}

func fakeCluster(t *testing.T, root string) *Cluster {
	cl := New(WithHome(t.TempDir()), WithName("c1"))
	cl.cgfs = cgroupFS{root: root}
	return cl
}

func TestCgroupControllers(t *testing.T) {
	require.Equal(t, []string{"cpu", "cpuset", "freezer", "memory", "pids", "unified"}, cgroupFS{root: fakeV1(t)}.controllers())
	require.Equal(t, []string{""}, cgroupFS{root: fakeV2(t)}.controllers())
	require.Empty(t, cgroupFS{root: filepath.Join(t.TempDir(), "none")}.controllers())
}

func TestSetupCgroupsV1(t *testing.T) {
	root := fakeV1(t)
	cl := fakeCluster(t, root)
	require.NoError(t, cl.setupCgroups())
	for _, c := range []string{"cpu", "cpuset", "freezer", "memory", "pids", "unified"} {
		require.DirExists(t, filepath.Join(root, c, "firedrill", "c1"))
	}
	require.Equal(t, "0-1", readFake(t, root, "cpuset/firedrill/c1/cpuset.cpus"))
	require.Equal(t, "0", readFake(t, root, "cpuset/firedrill/c1/cpuset.mems"))
	comp := filepath.Join(root, "freezer", "firedrill", "c1", "components")
	require.DirExists(t, comp)
	require.Equal(t, comp, cl.componentsCgroup())
	require.Equal(t, filepath.Join(comp, "cgroup.procs"), cl.componentsCgroupProcs(), "v1 joins through cgroup.procs")
	require.NoDirExists(t, filepath.Join(root, "memory", "firedrill", "c1", "components"))
}

func TestSetupCgroupsV1WithoutFreezer(t *testing.T) {
	root := fakeV1(t)
	require.NoError(t, os.RemoveAll(filepath.Join(root, "freezer")))
	cl := fakeCluster(t, root)
	require.NoError(t, cl.setupCgroups())
	require.Empty(t, cl.componentsCgroup())
	require.Empty(t, cl.componentsCgroupProcs())
}

func TestSetupCgroupsV2(t *testing.T) {
	root := fakeV2(t)
	cl := fakeCluster(t, root)
	require.NoError(t, cl.setupCgroups())
	comp := filepath.Join(root, "firedrill", "c1", "components")
	require.DirExists(t, comp)
	require.Equal(t, comp, cl.componentsCgroup())
	require.Empty(t, cl.componentsCgroupProcs(), "v2 starts components in the cgroup with CgroupFD")
	// The root's controllers not yet enabled for its children are.
	require.Equal(t, "+cpuset +cpu +io +pids", readFake(t, root, "cgroup.subtree_control"))
	require.Equal(t, []string{filepath.Join(root, "firedrill", "c1")}, []string{cl.clusterCgroup("")})
}

func TestEnableSubtree(t *testing.T) {
	dir := t.TempDir()
	fakeFile(t, dir, "cgroup.controllers", "cpu memory pids\n")
	fakeFile(t, dir, "cgroup.subtree_control", "cpu memory pids\n")
	require.NoError(t, enableSubtree(dir))
	require.Equal(t, "cpu memory pids", readFake(t, dir, "cgroup.subtree_control"), "nothing to enable: untouched")
	require.NoError(t, enableSubtree(t.TempDir()), "no cgroup.controllers: nothing to do")
}

// fakeKiller removes a killed PID from every cgroup.procs under root, as
// the kernel would, and records the PID and, at that moment, the content
// of watch (a freeze control file), if set.
type fakeKiller struct {
	root, watch string
	mu          sync.Mutex
	killed      []int
	seen        []string
}

func (k *fakeKiller) kill(pid int) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.killed = append(k.killed, pid)
	if k.watch != "" {
		b, _ := os.ReadFile(k.watch)
		k.seen = append(k.seen, strings.TrimSpace(string(b)))
	}
	return filepath.WalkDir(k.root, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || d.Name() != "cgroup.procs" || !strings.Contains(p, "firedrill") {
			return err
		}
		b, _ := os.ReadFile(p)
		var keep []string
		for _, l := range strings.Fields(string(b)) {
			if l != strconv.Itoa(pid) {
				keep = append(keep, l)
			}
		}
		return os.WriteFile(p, []byte(strings.Join(keep, "\n")), 0o644)
	})
}

func TestKillCgroups(t *testing.T) {
	tests := []struct {
		name   string
		fake   func(t *testing.T) string
		files  map[string]string // fake control files, relative to the cluster cgroup of ctrl
		ctrl   string
		watch  string // control file whose content is recorded at each kill
		seen   string // its content while killing
		after  map[string]string
		absent []string
	}{
		{
			name:  "v1 freezes the tree, kills, thaws",
			fake:  fakeV1,
			ctrl:  "freezer",
			files: map[string]string{"freezer.state": "THAWED"},
			watch: "freezer.state", seen: "FROZEN",
			after: map[string]string{"freezer.state": "THAWED"},
		},
		{
			name:  "v2 with cgroup.kill lets the kernel kill the tree",
			fake:  fakeV2,
			files: map[string]string{"cgroup.kill": "", "cgroup.freeze": "0", "cgroup.events": "populated 1\nfrozen 0\n"},
			watch: "cgroup.freeze", seen: "0",
			after: map[string]string{"cgroup.kill": "1", "cgroup.freeze": "0"},
		},
		{
			name:  "v2 before Linux 5.14 freezes with cgroup.freeze",
			fake:  fakeV2,
			files: map[string]string{"cgroup.freeze": "0", "cgroup.events": "populated 1\nfrozen 1\n"},
			watch: "cgroup.freeze", seen: "1",
			after:  map[string]string{"cgroup.freeze": "0"},
			absent: []string{"cgroup.kill"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := tt.fake(t)
			cl := fakeCluster(t, root)
			require.NoError(t, cl.setupCgroups())
			base := cl.clusterCgroup(tt.ctrl)
			for f, v := range tt.files {
				fakeFile(t, base, f, v)
			}
			// Processes in the components cgroup and in a pod's, in
			// another hierarchy on v1.
			pods := cl.clusterCgroup(cl.cgfs.controllers()[0])
			fakeFile(t, filepath.Join(base, "components"), "cgroup.procs", "900001\n900002\n")
			fakeFile(t, filepath.Join(pods, "kubepods", "pod1"), "cgroup.procs", "900003\n")
			require.ElementsMatch(t, []int{900001, 900002, 900003}, cl.cgroupPIDs())

			k := &fakeKiller{root: root, watch: filepath.Join(base, tt.watch)}
			cl.cgfs.kill = k.kill
			require.NoError(t, cl.killCgroups(5*time.Second))
			require.ElementsMatch(t, []int{900001, 900002, 900003}, k.killed)
			require.Equal(t, tt.seen, k.seen[0])
			require.Empty(t, cl.cgroupPIDs())
			for f, v := range tt.after {
				require.Equal(t, v, readFake(t, base, f), f)
			}
			for _, f := range tt.absent {
				require.NoFileExists(t, filepath.Join(base, f))
			}
		})
	}
}

func TestKillCgroupsTimeout(t *testing.T) {
	for name, fake := range map[string]func(*testing.T) string{"v1": fakeV1, "v2": fakeV2} {
		t.Run(name, func(t *testing.T) {
			cl := fakeCluster(t, fake(t))
			require.NoError(t, cl.setupCgroups())
			ctrl, _ := cl.cgfs.freezerCtrl()
			fakeFile(t, filepath.Join(cl.clusterCgroup(ctrl), "components"), "cgroup.procs", "900001\n")
			cl.cgfs.kill = func(int) error { return nil } // a process that will not die
			err := cl.killCgroups(200 * time.Millisecond)
			require.ErrorContains(t, err, "processes still in the cluster's cgroups after 200ms: [900001]")
		})
	}
}

func TestEnableSubtreeRefused(t *testing.T) {
	// A folder in place of the control file: every write fails, like a
	// kernel refusing the controllers.
	dir := t.TempDir()
	fakeFile(t, dir, "cgroup.controllers", "cpu memory\n")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "cgroup.subtree_control"), 0o755))
	err := enableSubtree(dir)
	require.ErrorContains(t, err, "enable +cpu")
	require.ErrorContains(t, err, "enable +memory")

	dir = t.TempDir()
	fakeFile(t, dir, "cgroup.controllers", "hugetlb rdma\n")
	require.NoError(t, os.Mkdir(filepath.Join(dir, "cgroup.subtree_control"), 0o755))
	require.NoError(t, enableSubtree(dir), "controllers the kubelet does not need may stay off")
}
