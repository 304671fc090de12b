package local

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// preflight checks the binaries and host tools before anything is started.
func (cl *Cluster) preflight() error {
	var missing []string
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"} {
		if st, err := os.Stat(cl.kubeBin(b)); err != nil || st.Mode()&0o111 == 0 {
			missing = append(missing, cl.kubeBin(b))
		}
	}
	if st, err := os.Stat(cl.cfg.runcBin); err != nil || st.Mode()&0o111 == 0 {
		missing = append(missing, cl.cfg.runcBin)
	}
	if len(missing) > 0 {
		return &MissingToolsError{Missing: missing}
	}
	for _, tool := range []string{"containerd", "containerd-shim-runc-v2", "ctr", "ip", "iptables", "go"} {
		if _, err := lookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	for _, plugin := range []string{"bridge", "host-local", "portmap", "loopback"} {
		if _, err := os.Stat(filepath.Join("/usr/lib/cni", plugin)); err != nil {
			missing = append(missing, "/usr/lib/cni/"+plugin)
		}
	}
	if len(missing) > 0 {
		return &MissingToolsError{Missing: missing}
	}
	return nil
}

// MissingToolsError lists binaries the cluster needs but cannot find; run
// hack/tools.sh (pinned Kubernetes and runc builds) and hack/host-deps.sh
// (Debian packages).
type MissingToolsError struct{ Missing []string }

func (e *MissingToolsError) Error() string {
	return "local: missing tools (run hack/host-deps.sh and hack/tools.sh): " + strings.Join(e.Missing, ", ")
}

// Preflight reports whether everything the cluster needs is installed,
// without starting anything. Tests use it to decide whether to skip.
func (cl *Cluster) Preflight() error { return cl.preflight() }

// checkPortsFree fails if a port the cluster needs is taken by a process
// that is not ours (another cluster with another name, a system etcd...).
func (cl *Cluster) checkPortsFree() error {
	for _, r := range cl.pidFiles() {
		if r.Alive() {
			return nil // ours, teardown frees them
		}
	}
	for _, port := range []int{etcdClientPort, etcdPeerPort, apiServerPort, controllerManagerPort, schedulerPort, kubeletHealthzPort, kubeProxyMetricsPort, kubeProxyHealthzPort} {
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return fmt.Errorf("local: port %d is in use by another process (another local cluster?): %w", port, err)
		}
		_ = l.Close()
	}
	return nil
}
