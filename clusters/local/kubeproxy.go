package local

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strconv"
	"time"
)

// kubeProxyConfigFile is kube-proxy's KubeProxyConfiguration in the work
// folder.
func (cl *Cluster) kubeProxyConfigFile() string {
	return filepath.Join(cl.p.work, "kube-proxy", "config.json")
}

// kubeProxyComponent runs kube-proxy in iptables mode, so that Services
// have a ClusterIP data path (what an in-cluster client, or the host, sees:
// the EndpointSlices as kube-proxy has programmed them).
func (cl *Cluster) kubeProxyComponent() component {
	return component{
		name: compKubeProxy,
		bin:  cl.kubeBin("kube-proxy"),
		args: []string{
			"--config=" + cl.kubeProxyConfigFile(),
			"--v=1",
		},
		// /healthz answers 200 once the proxier has synced its rules.
		health: func(ctx context.Context) error {
			return httpHealth(ctx, plainClient, "http://127.0.0.1:"+strconv.Itoa(kubeProxyHealthzPort)+"/healthz", "lastUpdated")
		},
		timeout: 60 * time.Second,
	}
}

// renderKubeProxy returns the KubeProxyConfiguration. What keeps it to this
// machine and leaves the host as it found it:
//   - clusterCIDR is the pod CIDR (traffic from elsewhere to a ClusterIP is
//     masqueraded to the node, i.e. the bridge address);
//   - nodePortAddresses is loopback only, and localhostNodePorts is off, so
//     a NodePort answers on no address at all (with it on, kube-proxy would
//     set the host sysctl route_localnet=1 and leave it);
//   - healthz and metrics listen on 127.0.0.1;
//   - the conntrack settings are all zero: kube-proxy leaves the host's
//     nf_conntrack sysctls alone (by default it raises nf_conntrack_max and
//     changes TCP timeouts machine-wide), and oomScoreAdj 0 leaves its own
//     score alone (the machine lacks CAP_SYS_RESOURCE);
//   - hostnameOverride is the node name, so it serves this node's endpoints.
func (c config) renderKubeProxy(kubeconfig string) ([]byte, error) {
	zero := "0s"
	kp := map[string]any{
		"apiVersion":         "kubeproxy.config.k8s.io/v1alpha1",
		"kind":               "KubeProxyConfiguration",
		"mode":               "iptables",
		"clientConnection":   map[string]any{"kubeconfig": kubeconfig},
		"hostnameOverride":   c.name,
		"bindAddress":        "127.0.0.1",
		"healthzBindAddress": "127.0.0.1:" + strconv.Itoa(kubeProxyHealthzPort),
		"metricsBindAddress": "127.0.0.1:" + strconv.Itoa(kubeProxyMetricsPort),
		"enableProfiling":    false,
		"clusterCIDR":        c.podCIDR.Masked().String(),
		"detectLocalMode":    "ClusterCIDR",
		"nodePortAddresses":  []string{"127.0.0.0/8"},
		"oomScoreAdj":        0,
		"iptables": map[string]any{
			"localhostNodePorts": false,
			"masqueradeAll":      false,
		},
		"conntrack": map[string]any{
			"maxPerCore":            0,
			"min":                   0,
			"tcpEstablishedTimeout": zero,
			"tcpCloseWaitTimeout":   zero,
			"udpTimeout":            zero,
			"udpStreamTimeout":      zero,
		},
	}
	out, err := json.MarshalIndent(kp, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("local: kube-proxy config: %w", err)
	}
	return append(out, '\n'), nil
}
