package local

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// Pinned versions of the binaries the cluster runs; they must match
// hack/versions.env (a unit test checks it).
const (
	KubernetesVersion = "v1.37.2"
	RuncVersion       = "v1.5.2"
)

// Defaults.
const (
	DefaultName        = "firedrill"
	DefaultHome        = "/var/lib/firedrill"
	DefaultCache       = "/var/cache/firedrill"
	DefaultBridge      = "fdrill0"
	DefaultPodCIDR     = "10.244.0.0/24"
	DefaultServiceCIDR = "10.96.0.0/16"
	DefaultTimeout     = 5 * time.Minute

	// FIREDRILL-FWD is the iptables chain (filter table) holding our
	// FORWARD rules; FORWARD jumps to it.
	forwardChain = "FIREDRILL-FWD"
)

// Ports (all on loopback except the kubelet's, which is on the bridge
// gateway so that the API server can reach it for logs and exec).
const (
	etcdClientPort        = 2379
	etcdPeerPort          = 2380
	apiServerPort         = 6443
	controllerManagerPort = 10257
	schedulerPort         = 10259
	kubeletPort           = 10250
	kubeletHealthzPort    = 10248
	kubeProxyMetricsPort  = 10249
	kubeProxyHealthzPort  = 10256
)

// Option configures a Cluster.
type Option func(*config)

type config struct {
	name        string
	home        string
	kubeBinDir  string
	runcBin     string
	moduleDir   string
	cacheDir    string
	bridge      string
	podCIDR     netip.Prefix
	serviceCIDR netip.Prefix
	timeout     time.Duration
	logger      *slog.Logger
	// versionMismatch records a Kubernetes version asked for through the
	// e2e-framework adapter that differs from the pinned one.
	versionMismatch string
}

// WithName sets the cluster name (default "firedrill"); it names the work
// folder, the node and the cgroup root.
func WithName(name string) Option { return func(c *config) { c.name = name } }

// WithHome sets the root folder holding clusters/<name> (default
// $FIREDRILL_HOME or /var/lib/firedrill).
func WithHome(dir string) Option { return func(c *config) { c.home = dir } }

// WithKubernetesBinDir sets the folder with kube-apiserver,
// kube-controller-manager, kube-scheduler, kubelet and etcd (default
// $FIREDRILL_KUBERNETES_BIN or <cache>/tools/kubernetes-<version>/bin, cache
// being $FIREDRILL_CACHE or /var/cache/firedrill; see hack/tools.sh).
func WithKubernetesBinDir(dir string) Option { return func(c *config) { c.kubeBinDir = dir } }

// WithRuncBinary sets the runc binary containerd uses (default
// $FIREDRILL_RUNC_BIN/runc or <cache>/tools/runc-<version>/bin/runc).
func WithRuncBinary(path string) Option { return func(c *config) { c.runcBin = path } }

// WithModuleDir sets the root of the firedrill Go module, used to build the
// pause image (default: found by walking up from the current directory).
func WithModuleDir(dir string) Option { return func(c *config) { c.moduleDir = dir } }

// WithServiceCIDR sets the Services' ClusterIP range (default
// 10.96.0.0/16): the API server's --service-cluster-ip-range and the
// host's routes of it (onto the bridge, a blackhole behind). Pick another
// one when the host already routes the default range.
func WithServiceCIDR(p netip.Prefix) Option { return func(c *config) { c.serviceCIDR = p } }

// WithTimeout bounds Create (default 5m). Each health wait also has its own
// shorter timeout.
func WithTimeout(d time.Duration) Option { return func(c *config) { c.timeout = d } }

// WithLogger sets the logger for progress messages (default: discard).
func WithLogger(l *slog.Logger) Option { return func(c *config) { c.logger = l } }

func newConfig(opts []Option) config {
	c := config{
		name:        DefaultName,
		bridge:      DefaultBridge,
		podCIDR:     netip.MustParsePrefix(DefaultPodCIDR),
		serviceCIDR: netip.MustParsePrefix(DefaultServiceCIDR),
		timeout:     DefaultTimeout,
	}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.home == "" {
		c.home = envOr("FIREDRILL_HOME", DefaultHome)
	}
	cache := envOr("FIREDRILL_CACHE", DefaultCache)
	c.cacheDir = cache
	if c.kubeBinDir == "" {
		c.kubeBinDir = envOr("FIREDRILL_KUBERNETES_BIN",
			filepath.Join(cache, "tools", "kubernetes-"+KubernetesVersion, "bin"))
	}
	if c.runcBin == "" {
		c.runcBin = filepath.Join(envOr("FIREDRILL_RUNC_BIN",
			filepath.Join(cache, "tools", "runc-"+RuncVersion, "bin")), "runc")
	}
	if c.logger == nil {
		c.logger = slog.New(slog.DiscardHandler)
	}
	if c.timeout <= 0 {
		c.timeout = DefaultTimeout
	}
	return c
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

func (c config) validate() error {
	if c.name == "" || c.name == "." || c.name == ".." || filepath.Base(c.name) != c.name {
		return fmt.Errorf("local: invalid cluster name %q", c.name)
	}
	if len(c.name) > 40 {
		return fmt.Errorf("local: cluster name %q is longer than 40 characters", c.name)
	}
	if !filepath.IsAbs(c.home) {
		return fmt.Errorf("local: home %q must be an absolute path", c.home)
	}
	if !c.podCIDR.Addr().Is4() || c.podCIDR.Bits() > 30 {
		return fmt.Errorf("local: pod CIDR %s must be IPv4 and /30 or larger", c.podCIDR)
	}
	if !c.serviceCIDR.Addr().Is4() || c.serviceCIDR.Overlaps(c.podCIDR) {
		return fmt.Errorf("local: service CIDR %s must be IPv4 and not overlap the pod CIDR", c.serviceCIDR)
	}
	return nil
}

// validateForCreate adds the checks that only matter for starting a
// cluster: the kubelet puts unix sockets (at most 108 bytes long) under its
// root folder, e.g. <work>/kubelet/pod-resources/kubelet.sock.
func (c config) validateForCreate() error {
	if err := c.validate(); err != nil {
		return err
	}
	if w := c.paths().work; len(w) > maxWorkPathLen {
		return fmt.Errorf("local: work folder %s is longer than %d bytes, too long for the kubelet's unix sockets; use a shorter home", w, maxWorkPathLen)
	}
	return nil
}

// gateway is the bridge address: the first host of the pod CIDR.
func (c config) gateway() netip.Addr { return c.podCIDR.Masked().Addr().Next() }

// apiServiceIP is the first address of the service CIDR (the kubernetes
// Service's ClusterIP).
func (c config) apiServiceIP() netip.Addr { return c.serviceCIDR.Masked().Addr().Next() }

// cgroupRoot is the kubelet's cgroup root and the parent of the components'
// cgroup, relative to each cgroup v1 controller mount.
func (c config) cgroupRoot() string { return "/firedrill/" + c.name }

// paths holds the layout of the work folder.
type paths struct {
	work, logs, run, pki, etcd, containerd, ctrRoot, ctrState, ctrSock,
	ctrConfig, runcRoot, kubelet, podLogs, cniConf, cniIPAM, images string
	// sockets holds containerd's sockets: unix socket paths are limited
	// to 104 bytes, too short for a work folder in a deep home.
	sockets string
}

// maxWorkPathLen bounds the work folder's path so that every unix socket
// the kubelet creates below it fits in 108 bytes.
const maxWorkPathLen = 64

// socketRoot is the parent of every cluster's socket folder.
const socketRoot = "/run/firedrill"

func (c config) paths() paths {
	w := filepath.Join(c.home, "clusters", c.name)
	ctr := filepath.Join(w, "containerd")
	sockets := filepath.Join(socketRoot, c.name)
	return paths{
		sockets:    sockets,
		work:       w,
		logs:       filepath.Join(w, "logs"),
		run:        filepath.Join(w, "run"),
		pki:        filepath.Join(w, "pki"),
		etcd:       filepath.Join(w, "etcd"),
		containerd: ctr,
		ctrRoot:    filepath.Join(ctr, "root"),
		ctrState:   filepath.Join(ctr, "state"),
		ctrSock:    filepath.Join(sockets, "containerd.sock"),
		ctrConfig:  filepath.Join(ctr, "config.toml"),
		runcRoot:   filepath.Join(ctr, "runc"),
		kubelet:    filepath.Join(w, "kubelet"),
		podLogs:    filepath.Join(w, "pod-logs"),
		cniConf:    filepath.Join(w, "cni", "net.d"),
		cniIPAM:    filepath.Join(w, "cni", "ipam"),
		images:     filepath.Join(w, "images"),
	}
}

// lockPath is outside the work folder so that removing the folder never
// races with the lock.
func (c config) lockPath() string { return filepath.Join(c.home, "clusters", "."+c.name+".lock") }

// kubeconfigPath is the admin kubeconfig.
func (c config) kubeconfigPath() string { return filepath.Join(c.paths().work, "kubeconfig") }
