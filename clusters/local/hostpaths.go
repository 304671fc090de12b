package local

import (
	"context"
	"os"
	"path/filepath"
	"strings"
)

// hostPaths are folders outside the work folder that our kubelet, containerd
// or CNI create even with every path option pointed at the work folder: the
// kubelet's device-plugin folder and its /var/log/containers symlinks are
// fixed, libcni caches results in /var/lib/cni, containerd 1.6 shims put
// their sockets in /run/containerd/s.
// Deepest first; teardown removes the ones that did not exist before Create,
// with the files our components leave in them.
var hostPaths = []struct {
	dir   string
	files []string // files our components leave there
}{
	{"/var/lib/kubelet/device-plugins", []string{"kubelet.sock", "kubelet_internal_checkpoint"}},
	{"/var/lib/kubelet", nil},
	{containerLogLinks, nil},
	{"/var/lib/cni/results", nil},
	{"/var/lib/cni", nil},
	{"/run/containerd/s", nil},
	{"/run/containerd", nil},
}

// containerLogLinks is where the kubelet links every container's log file
// (a fixed path).
const containerLogLinks = "/var/log/containers"

func (cl *Cluster) hostPathsStatePath() string {
	return filepath.Join(cl.p.run, "hostpaths-preexisting")
}

// recordHostPaths notes which host folders exist before our components
// start.
func (cl *Cluster) recordHostPaths(context.Context) error {
	var pre []string
	for _, hp := range hostPaths {
		if _, err := os.Stat(hp.dir); err == nil {
			pre = append(pre, hp.dir)
		}
	}
	return os.WriteFile(cl.hostPathsStatePath(), []byte(strings.Join(pre, "\n")+"\n"), 0o644)
}

// removeHostPaths removes the host folders our components created, if they
// are empty once our files are gone. Without a record it does nothing.
func (cl *Cluster) removeHostPaths() {
	cl.removeContainerLogLinks()
	data, err := os.ReadFile(cl.hostPathsStatePath())
	if err != nil {
		return
	}
	pre := map[string]bool{}
	for _, l := range strings.Split(string(data), "\n") {
		pre[strings.TrimSpace(l)] = true
	}
	for _, hp := range hostPaths {
		if pre[hp.dir] {
			continue
		}
		for _, f := range hp.files {
			_ = os.Remove(filepath.Join(hp.dir, f))
		}
		_ = os.Remove(hp.dir) // only succeeds when empty
	}
}

// removeContainerLogLinks removes the kubelet's links to our pods' logs.
func (cl *Cluster) removeContainerLogLinks() {
	entries, _ := os.ReadDir(containerLogLinks)
	for _, e := range entries {
		p := filepath.Join(containerLogLinks, e.Name())
		if target, err := os.Readlink(p); err == nil && strings.HasPrefix(target, cl.p.podLogs+"/") {
			_ = os.Remove(p)
		}
	}
}
