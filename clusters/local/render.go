package local

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/firedrill/firedrill/clusters/images"
)

// renderKubeconfig returns a kubeconfig for the client certificate pki/<file>
// with the CA and credentials embedded, so that the file is self-contained.
func (c config) renderKubeconfig(pkiDir, file string) ([]byte, error) {
	ca, err := os.ReadFile(filepath.Join(pkiDir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("local: kubeconfig: %w", err)
	}
	crt, err := os.ReadFile(filepath.Join(pkiDir, file+".crt"))
	if err != nil {
		return nil, fmt.Errorf("local: kubeconfig: %w", err)
	}
	key, err := os.ReadFile(filepath.Join(pkiDir, file+".key"))
	if err != nil {
		return nil, fmt.Errorf("local: kubeconfig: %w", err)
	}
	ctxName := "firedrill-" + c.name
	kc := clientcmdapi.NewConfig()
	kc.Clusters[ctxName] = &clientcmdapi.Cluster{
		Server:                   c.apiServerURL(),
		CertificateAuthorityData: ca,
	}
	kc.AuthInfos[ctxName+"-"+file] = &clientcmdapi.AuthInfo{
		ClientCertificateData: crt,
		ClientKeyData:         key,
	}
	kc.Contexts[ctxName] = &clientcmdapi.Context{Cluster: ctxName, AuthInfo: ctxName + "-" + file}
	kc.CurrentContext = ctxName
	out, err := clientcmd.Write(*kc)
	if err != nil {
		return nil, fmt.Errorf("local: kubeconfig: %w", err)
	}
	return out, nil
}

func (c config) apiServerURL() string {
	return "https://127.0.0.1:" + strconv.Itoa(apiServerPort)
}

// networkName is the CNI network name; it prefixes CNI's cache files.
func (c config) networkName() string { return "firedrill-" + c.name }

// renderCNI returns the CNI conflist: bridge (no masquerade, the bridge
// gateway as the pods' default route) with host-local IPAM keeping its state
// in the work folder, portmap and loopback.
func (c config) renderCNI(ipamDir string) ([]byte, error) {
	conf := map[string]any{
		"cniVersion": "1.0.0",
		"name":       c.networkName(),
		"plugins": []any{
			map[string]any{
				"type":        "bridge",
				"bridge":      c.bridge,
				"isGateway":   true,
				"ipMasq":      false,
				"hairpinMode": true,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": ipamDir,
					"ranges": []any{[]any{map[string]any{
						"subnet":  c.podCIDR.Masked().String(),
						"gateway": c.gateway().String(),
					}}},
					"routes": []any{map[string]any{"dst": "0.0.0.0/0"}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]bool{"portMappings": true}},
			map[string]any{"type": "loopback"},
		},
	}
	out, err := json.MarshalIndent(conf, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("local: cni: %w", err)
	}
	return append(out, '\n'), nil
}

// renderContainerd returns containerd's config (version 2, containerd 1.6).
// Everything containerd writes stays under the work folder: root, state, the
// runc state root and CNI netns mounts.
func (c config) renderContainerd(p paths) string {
	q := strconv.Quote
	var b strings.Builder
	fmt.Fprintf(&b, `version = 2
root = %s
state = %s
oom_score = 0
disabled_plugins = [
  "io.containerd.internal.v1.opt",
  "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs",
  "io.containerd.snapshotter.v1.devmapper",
  "io.containerd.snapshotter.v1.zfs",
  "io.containerd.tracing.processor.v1.otlp",
]

[grpc]
  address = %s

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %s
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_selinux = false
  disable_apparmor = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        BinaryName = %s
        Root = %s
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %s
    max_conf_num = 1
`, q(p.ctrRoot), q(p.ctrState), q(p.ctrSock), q(images.PauseImage),
		q(c.runcBin), q(p.runcRoot), q(p.cniConf))
	return b.String()
}

// renderKubelet returns the KubeletConfiguration. The settings that matter
// on these machines: cgroup v1 allowed, cgroupfs driver under our own cgroup
// root, swap tolerated, relaxed disk eviction, image GC off (images are
// imported, never pulled back), and every path under the work folder.
func (c config) renderKubelet(p paths) ([]byte, error) {
	kc := map[string]any{
		"apiVersion":                  "kubelet.config.k8s.io/v1beta1",
		"kind":                        "KubeletConfiguration",
		"address":                     c.gateway().String(),
		"port":                        kubeletPort,
		"readOnlyPort":                0,
		"healthzBindAddress":          "127.0.0.1",
		"healthzPort":                 kubeletHealthzPort,
		"containerRuntimeEndpoint":    "unix://" + p.ctrSock,
		"cgroupDriver":                "cgroupfs",
		"cgroupRoot":                  c.cgroupRoot(),
		"cgroupsPerQOS":               true,
		"failCgroupV1":                false,
		"failSwapOn":                  false,
		"podLogsDir":                  p.podLogs,
		"resolvConf":                  "",
		"staticPodPath":               "",
		"registerNode":                true,
		"maxPods":                     110,
		"serializeImagePulls":         false,
		"imageGCHighThresholdPercent": 100,
		"imageGCLowThresholdPercent":  99,
		"evictionHard": map[string]string{
			"memory.available":   "100Mi",
			"nodefs.available":   "1%",
			"nodefs.inodesFree":  "1%",
			"imagefs.available":  "1%",
			"imagefs.inodesFree": "1%",
		},
		"authentication": map[string]any{
			"anonymous": map[string]bool{"enabled": false},
			"webhook":   map[string]bool{"enabled": false},
			"x509":      map[string]string{"clientCAFile": filepath.Join(p.pki, "ca.crt")},
		},
		// Only holders of a certificate from the cluster's CA get past
		// authentication, i.e. the API server; no webhook round trips.
		// The kubelet generates its own self-signed serving certificate.
		"authorization": map[string]any{"mode": "AlwaysAllow"},
	}
	out, err := json.MarshalIndent(kc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("local: kubelet config: %w", err)
	}
	return append(out, '\n'), nil
}
