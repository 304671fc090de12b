package local

import (
	"bufio"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"
	"github.com/stretchr/testify/require"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/firedrill/firedrill/clusters/images"
	"github.com/firedrill/firedrill/clusters/internal/proc"
)

func TestConfigDefaults(t *testing.T) {
	t.Setenv("FIREDRILL_HOME", "")
	t.Setenv("FIREDRILL_CACHE", "")
	t.Setenv("FIREDRILL_KUBERNETES_BIN", "")
	t.Setenv("FIREDRILL_RUNC_BIN", "")
	c := newConfig(nil)
	require.NoError(t, c.validate())
	require.Equal(t, "/var/lib/firedrill/clusters/firedrill", c.paths().work)
	require.Equal(t, "/var/lib/firedrill/clusters/firedrill/kubeconfig", c.kubeconfigPath())
	require.Equal(t, "/var/cache/firedrill/tools/kubernetes-v1.37.2/bin", c.kubeBinDir)
	require.Equal(t, "/var/cache/firedrill/tools/runc-v1.5.2/bin/runc", c.runcBin)
	require.Equal(t, "10.244.0.1", c.gateway().String())
	require.Equal(t, "10.96.0.1", c.apiServiceIP().String())
	require.Equal(t, "fdrill0", c.bridge)
	require.Equal(t, "/firedrill/firedrill", c.cgroupRoot())
	require.Equal(t, "/run/firedrill/firedrill/containerd.sock", c.paths().ctrSock)

	t.Setenv("FIREDRILL_HOME", "/srv/fd")
	t.Setenv("FIREDRILL_CACHE", "/opt/cache")
	c = newConfig([]Option{WithName("demo")})
	require.Equal(t, "/srv/fd/clusters/demo", c.paths().work)
	require.Equal(t, "/opt/cache/tools/kubernetes-v1.37.2/bin", c.kubeBinDir)
	c = newConfig([]Option{WithHome("/x"), WithKubernetesBinDir("/k"), WithRuncBinary("/r/runc")})
	require.Equal(t, "/x/clusters/firedrill", c.paths().work)
	require.Equal(t, "/k", c.kubeBinDir)
	require.Equal(t, "/r/runc", c.runcBin)
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
	}{
		{"empty name", []Option{WithName("")}},
		{"name with slash", []Option{WithName("a/b")}},
		{"dot dot", []Option{WithName("..")}},
		{"relative home", []Option{WithHome("rel")}},
		{"long name", []Option{WithName(strings.Repeat("x", 41))}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := newConfig(append([]Option{WithHome("/h")}, tc.opts...))
			require.Error(t, c.validate())
		})
	}
	long := newConfig([]Option{WithHome("/" + strings.Repeat("h", 60))})
	require.NoError(t, long.validate(), "Delete and Status work with any home")
	require.ErrorContains(t, long.validateForCreate(), "too long")
}

// TestVersionsMatchHack keeps the pinned versions in sync with
// hack/versions.env, which hack/tools.sh builds.
func TestVersionsMatchHack(t *testing.T) {
	f, err := os.Open("../../hack/versions.env")
	if err != nil {
		t.Skipf("hack/versions.env not readable: %v", err)
	}
	defer f.Close()
	pins := map[string]string{}
	s := bufio.NewScanner(f)
	for s.Scan() {
		if k, v, ok := strings.Cut(strings.TrimSpace(s.Text()), "="); ok && !strings.HasPrefix(k, "#") {
			pins[k] = v
		}
	}
	require.Equal(t, pins["KUBERNETES_VERSION"], KubernetesVersion)
	require.Equal(t, pins["RUNC_VERSION"], RuncVersion)
}

func TestRenderCNI(t *testing.T) {
	c := newConfig([]Option{WithHome("/h")})
	data, err := c.renderCNI("/h/clusters/firedrill/cni/ipam")
	require.NoError(t, err)
	var conf struct {
		CNIVersion string           `json:"cniVersion"`
		Name       string           `json:"name"`
		Plugins    []map[string]any `json:"plugins"`
	}
	require.NoError(t, json.Unmarshal(data, &conf))
	require.Equal(t, "firedrill-firedrill", conf.Name)
	require.Len(t, conf.Plugins, 3)
	br := conf.Plugins[0]
	require.Equal(t, "bridge", br["type"])
	require.Equal(t, "fdrill0", br["bridge"])
	require.Equal(t, false, br["ipMasq"], "pods must never be masqueraded off the machine")
	require.Equal(t, true, br["isGateway"])
	ipam := br["ipam"].(map[string]any)
	require.Equal(t, "host-local", ipam["type"])
	require.Equal(t, "/h/clusters/firedrill/cni/ipam", ipam["dataDir"])
	rng := ipam["ranges"].([]any)[0].([]any)[0].(map[string]any)
	require.Equal(t, "10.244.0.0/24", rng["subnet"])
	require.Equal(t, "10.244.0.1", rng["gateway"])
	require.Equal(t, "portmap", conf.Plugins[1]["type"])
	require.Equal(t, "loopback", conf.Plugins[2]["type"])
}

func TestRenderContainerd(t *testing.T) {
	c := newConfig([]Option{WithHome("/h"), WithRuncBinary("/cache/runc")})
	p := c.paths()
	var conf map[string]any
	_, err := toml.Decode(c.renderContainerd(p), &conf)
	require.NoError(t, err)
	require.EqualValues(t, 2, conf["version"])
	require.Equal(t, p.ctrRoot, conf["root"])
	require.Equal(t, p.ctrState, conf["state"])
	require.Equal(t, p.ctrSock, conf["grpc"].(map[string]any)["address"])
	cri := conf["plugins"].(map[string]any)["io.containerd.grpc.v1.cri"].(map[string]any)
	require.Equal(t, images.PauseImage, cri["sandbox_image"])
	require.Equal(t, true, cri["restrict_oom_score_adj"])
	require.Equal(t, true, cri["netns_mounts_under_state_dir"])
	ctrd := cri["containerd"].(map[string]any)
	require.Equal(t, "overlayfs", ctrd["snapshotter"])
	runc := ctrd["runtimes"].(map[string]any)["runc"].(map[string]any)
	require.Equal(t, "io.containerd.runc.v2", runc["runtime_type"])
	opts := runc["options"].(map[string]any)
	require.Equal(t, "/cache/runc", opts["BinaryName"])
	require.Equal(t, false, opts["SystemdCgroup"])
	require.Equal(t, p.runcRoot, opts["Root"])
	cni := cri["cni"].(map[string]any)
	require.Equal(t, "/usr/lib/cni", cni["bin_dir"])
	require.Equal(t, p.cniConf, cni["conf_dir"])
}

func TestRenderKubelet(t *testing.T) {
	c := newConfig([]Option{WithHome("/h")})
	p := c.paths()
	data, err := c.renderKubelet(p)
	require.NoError(t, err)
	var kc map[string]any
	require.NoError(t, json.Unmarshal(data, &kc))
	require.Equal(t, "KubeletConfiguration", kc["kind"])
	require.Equal(t, "cgroupfs", kc["cgroupDriver"])
	require.Equal(t, false, kc["failCgroupV1"])
	require.Equal(t, false, kc["failSwapOn"])
	require.Equal(t, "/firedrill/firedrill", kc["cgroupRoot"])
	require.Equal(t, "unix://"+p.ctrSock, kc["containerRuntimeEndpoint"])
	require.Equal(t, p.podLogs, kc["podLogsDir"])
	require.Equal(t, "10.244.0.1", kc["address"])
	require.Equal(t, "1%", kc["evictionHard"].(map[string]any)["nodefs.available"])
	require.EqualValues(t, 0, kc["readOnlyPort"])
}

// TestRenderKubeProxy checks the settings that keep kube-proxy to this
// machine and leave the host's sysctls alone.
func TestRenderKubeProxy(t *testing.T) {
	c := newConfig(nil)
	data, err := c.renderKubeProxy("/w/pki/kube-proxy.kubeconfig")
	require.NoError(t, err)
	var kp map[string]any
	require.NoError(t, json.Unmarshal(data, &kp))
	require.Equal(t, "KubeProxyConfiguration", kp["kind"])
	require.Equal(t, "iptables", kp["mode"])
	require.Equal(t, "10.244.0.0/24", kp["clusterCIDR"])
	require.Equal(t, "firedrill", kp["hostnameOverride"])
	require.Equal(t, "127.0.0.1:10256", kp["healthzBindAddress"])
	require.Equal(t, "127.0.0.1:10249", kp["metricsBindAddress"])
	require.Equal(t, []any{"127.0.0.0/8"}, kp["nodePortAddresses"])
	require.Equal(t, false, kp["iptables"].(map[string]any)["localhostNodePorts"])
	ct := kp["conntrack"].(map[string]any)
	require.EqualValues(t, 0, ct["maxPerCore"])
	require.EqualValues(t, 0, ct["min"])
	require.Equal(t, "0s", ct["tcpEstablishedTimeout"])
	require.Equal(t, "0s", ct["tcpCloseWaitTimeout"])
	require.Equal(t, "/w/pki/kube-proxy.kubeconfig", kp["clientConnection"].(map[string]any)["kubeconfig"])
}

func TestJumpsTo(t *testing.T) {
	set := map[string]bool{"KUBE-SERVICES": true}
	require.True(t, jumpsTo(shellFields(`-A OUTPUT -m comment --comment "kubernetes service portals" -j KUBE-SERVICES`), set))
	require.True(t, jumpsTo(shellFields(`-A OUTPUT -g KUBE-SERVICES`), set))
	require.False(t, jumpsTo(shellFields(`-A OUTPUT -j KUBE-FIREWALL`), set))
	require.False(t, jumpsTo(shellFields(`-A OUTPUT -m comment --comment "-j KUBE-SERVICES" -j ACCEPT`), set))
}

func TestPKIAndKubeconfig(t *testing.T) {
	dir := t.TempDir()
	c := newConfig([]Option{WithHome(dir)})
	require.NoError(t, c.writePKI(dir))

	ca := readCert(t, filepath.Join(dir, "ca.crt"))
	require.True(t, ca.IsCA)
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	serving := readCert(t, filepath.Join(dir, "apiserver.crt"))
	for _, host := range []string{"127.0.0.1", "10.244.0.1", "10.96.0.1", "localhost", "kubernetes.default.svc"} {
		_, err := serving.Verify(x509.VerifyOptions{Roots: pool, DNSName: host})
		require.NoError(t, err, host)
	}
	kubelet := readCert(t, filepath.Join(dir, "kubelet.crt"))
	require.Equal(t, "system:node:firedrill", kubelet.Subject.CommonName)
	require.Equal(t, []string{"system:nodes"}, kubelet.Subject.Organization)
	_, err := kubelet.Verify(x509.VerifyOptions{Roots: pool, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	require.NoError(t, err)

	data, err := c.renderKubeconfig(dir, "admin")
	require.NoError(t, err)
	kc, err := clientcmd.Load(data)
	require.NoError(t, err)
	require.Equal(t, "firedrill-firedrill", kc.CurrentContext)
	cl := kc.Clusters[kc.Contexts[kc.CurrentContext].Cluster]
	require.Equal(t, "https://127.0.0.1:6443", cl.Server)
	require.False(t, cl.InsecureSkipTLSVerify)
	require.NotEmpty(t, cl.CertificateAuthorityData)
	rc, err := clientcmd.RESTConfigFromKubeConfig(data)
	require.NoError(t, err)
	require.NotEmpty(t, rc.TLSClientConfig.CertData)

	info, err := os.Stat(filepath.Join(dir, "admin.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	block, _ := pem.Decode(data)
	require.NotNil(t, block)
	cert, err := x509.ParseCertificate(block.Bytes)
	require.NoError(t, err)
	return cert
}

func TestMountHelpers(t *testing.T) {
	require.Equal(t, "/a b/c", unescapeMount(`/a\040b/c`))
	require.Equal(t, "/plain", unescapeMount("/plain"))
	mps, err := mountsUnder("/proc")
	require.NoError(t, err)
	require.Contains(t, mps, "/proc")
}

func TestPIDFileRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.pid")
	self, err := proc.Of(os.Getpid())
	st := self.Start
	require.NoError(t, err)
	ref := procRef{PID: os.Getpid(), Start: st}
	require.NoError(t, proc.WritePIDFile(path, ref))
	got, err := proc.ReadPIDFile(path)
	require.NoError(t, err)
	require.Equal(t, ref, got)
	require.True(t, got.Alive())
	require.False(t, procRef{PID: os.Getpid(), Start: st + 1}.Alive(), "a recycled PID is not ours")
}

func TestForwardRules(t *testing.T) {
	c := newConfig(nil)
	rules := c.forwardRules("iptables")
	require.Len(t, rules, 2)
	require.Equal(t, "-s 10.244.0.0/24 ! -o fdrill0 -j DROP", strings.Join(rules[0][:7], " "))
	require.Equal(t, "-i fdrill0 ! -o fdrill0 -j DROP", strings.Join(rules[1][:7], " "))
	v6 := c.forwardRules("ip6tables")
	require.Len(t, v6, 1)
	require.Equal(t, "-i fdrill0 ! -o fdrill0 -j DROP", strings.Join(v6[0][:7], " "))
}
