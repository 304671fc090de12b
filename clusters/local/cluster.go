package local

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/firedrill/firedrill/clusters"
)

// ProviderName is the name the local provider reports.
const ProviderName = "local"

// ErrNotRoot is returned by Create and Delete when not running as root: the
// cluster needs to create a bridge, iptables rules, cgroups and mounts.
var ErrNotRoot = errors.New("local: the local cluster needs root")

// Cluster is the embedded single-node cluster. Its state lives entirely in
// the work folder and the host objects named after it, so a new Cluster
// value with the same options controls a cluster another process created.
type Cluster struct {
	cfg  config
	p    paths
	cgfs cgroupFS
}

var _ clusters.Provider = (*Cluster)(nil)

// New returns a Cluster with the given options; nothing happens until
// Create.
func New(opts ...Option) *Cluster {
	cfg := newConfig(opts)
	return &Cluster{cfg: cfg, p: cfg.paths(), cgfs: hostCgroupFS()}
}

// Name returns "local".
func (cl *Cluster) Name() string { return ProviderName }

// ClusterName returns the cluster's name (also its node's name).
func (cl *Cluster) ClusterName() string { return cl.cfg.name }

// WorkDir returns the cluster's work folder.
func (cl *Cluster) WorkDir() string { return cl.p.work }

// Gateway returns the bridge address: the node's InternalIP, and the
// address at which pods reach the host (default 10.244.0.1).
func (cl *Cluster) Gateway() netip.Addr { return cl.cfg.gateway() }

// PodCIDR returns the pods' address range (default 10.244.0.0/24).
func (cl *Cluster) PodCIDR() netip.Prefix { return cl.cfg.podCIDR }

// ServiceCIDR returns the Services' ClusterIP range (default
// 10.96.0.0/16), routed onto the bridge on the host (kube-proxy DNATs
// ClusterIP traffic to pods; anything else dies on the bridge).
func (cl *Cluster) ServiceCIDR() netip.Prefix { return cl.cfg.serviceCIDR }

// Kubeconfig returns the path of the admin kubeconfig.
func (cl *Cluster) Kubeconfig() string { return cl.cfg.kubeconfigPath() }

// RESTConfig returns a client config for the admin.
func (cl *Cluster) RESTConfig() (*rest.Config, error) {
	rc, err := clientcmd.BuildConfigFromFlags("", cl.Kubeconfig())
	if err != nil {
		return nil, fmt.Errorf("local: kubeconfig: %w", err)
	}
	rc.Proxy = nil
	return rc, nil
}

func (cl *Cluster) clientset() (kubernetes.Interface, error) {
	rc, err := cl.RESTConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(rc)
}

// Create brings the cluster up and waits for its node to be Ready. A
// healthy running cluster is reused; anything stale is torn down first. On
// any failure, including ctx being cancelled, everything started is torn
// down again.
func (cl *Cluster) Create(ctx context.Context) (err error) {
	if err := cl.cfg.validateForCreate(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	unlock, err := cl.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	ctx, cancel := context.WithTimeout(ctx, cl.cfg.timeout)
	defer cancel()
	log := cl.cfg.logger

	if cl.reusable(ctx) {
		log.Info("reusing running cluster", "name", cl.cfg.name, "kubeconfig", cl.Kubeconfig())
		return nil
	}
	// Everything that can be checked without touching the machine comes
	// before the cleanup of a stale cluster.
	if err := cl.preflight(); err != nil {
		return err
	}
	if err := cl.checkPauseSource(); err != nil {
		return err
	}
	if err := cl.checkPortsFree(); err != nil {
		return err
	}
	if _, err := os.Stat(cl.p.work); err == nil {
		log.Info("cleaning up stale cluster", "work", cl.p.work)
	}
	if err := cl.teardown(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("local: clean up stale cluster: %w", err)
	}
	defer func() {
		if err == nil {
			return
		}
		log.Warn("create failed, tearing down", "err", firstLine(err))
		if !errors.Is(err, context.Canceled) {
			if kept := cl.keepLogs(); kept != "" {
				log.Warn("component logs of the failed create kept", "dir", kept)
				err = fmt.Errorf("%w\n(all component logs: %s)", err, kept)
			}
		}
		tctx, tcancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer tcancel()
		if terr := cl.teardown(tctx); terr != nil {
			err = errors.Join(err, fmt.Errorf("local: teardown after failed create: %w", terr))
		}
	}()
	start := time.Now()
	if err := cl.up(ctx); err != nil {
		if errors.Is(err, context.Canceled) {
			return fmt.Errorf("local: create interrupted, everything started was torn down: %w", err)
		}
		return err
	}
	_ = os.RemoveAll(cl.failedLogsDir()) // a stale failure's logs
	log.Info("cluster up", "name", cl.cfg.name, "took", time.Since(start).Round(10*time.Millisecond))
	return nil
}

func (cl *Cluster) failedLogsDir() string { return cl.p.work + ".failed-logs" }

// keepLogs moves the logs folder of a failed Create next to the work
// folder (<home>/clusters/<name>.failed-logs, replacing an older one) so that
// the teardown does not delete them; it returns "" if that fails.
func (cl *Cluster) keepLogs() string {
	dst := cl.failedLogsDir()
	_ = os.RemoveAll(dst)
	if err := os.Rename(cl.p.logs, dst); err != nil {
		return ""
	}
	return dst
}

// reusable reports whether a running cluster can be reused. When every
// component process is alive, a failing health check is given time to
// recover (a busy 2-core machine can miss a probe) instead of wiping a
// cluster that is in use, and a missing network safety net is reinstalled.
func (cl *Cluster) reusable(ctx context.Context) bool {
	refs := cl.pidFiles()
	if len(refs) != len(componentOrder) {
		return false
	}
	for _, r := range refs {
		if !r.Alive() {
			return false
		}
	}
	deadline := time.Now().Add(reuseGrace)
	for {
		st, err := cl.Status(ctx)
		if err == nil && st.Healthy() {
			return true
		}
		if err == nil && onlyNetworkUnhealthy(st) {
			cl.cfg.logger.Warn("network safety net incomplete, reinstalling it")
			if cl.setupNetwork(ctx) == nil {
				continue
			}
			return false
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		cl.cfg.logger.Info("running cluster not healthy yet, waiting", "status", unhealthyNames(st))
		select {
		case <-ctx.Done():
			return false
		case <-time.After(time.Second):
		}
	}
}

// reuseGrace is how long Create waits for a running cluster with a failing
// health check before it recreates it.
const reuseGrace = 30 * time.Second

func onlyNetworkUnhealthy(st Status) bool {
	names := unhealthyNames(st)
	return len(names) == 1 && names[0] == "network"
}

func unhealthyNames(st Status) []string {
	var out []string
	for _, c := range st.Components {
		if !c.Healthy {
			out = append(out, c.Name)
		}
	}
	return out
}

// up performs the steps of Create on a clean machine.
func (cl *Cluster) up(ctx context.Context) error {
	log := cl.cfg.logger
	if err := cl.writeFiles(); err != nil {
		return err
	}

	// The pause image build runs while the control plane starts.
	type built struct {
		path string
		err  error
	}
	pauseCh := make(chan built, 1)
	go func() {
		p, err := cl.buildPause(ctx)
		pauseCh <- built{p, err}
	}()

	log.Info("setting up network", "bridge", cl.cfg.bridge, "gateway", cl.cfg.gateway(), "podCIDR", cl.cfg.podCIDR, "serviceCIDR", cl.cfg.serviceCIDR)
	if err := cl.setupNetwork(ctx); err != nil {
		return err
	}
	if err := cl.setupCgroups(); err != nil {
		return err
	}

	if err := cl.recordHostPaths(ctx); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	etcd, err := cl.start(cl.etcdComponent())
	if err != nil {
		return err
	}
	ctrd, err := cl.start(cl.containerdComponent())
	if err != nil {
		return err
	}
	if err := cl.waitHealthy(ctx, etcd); err != nil {
		return err
	}
	api, err := cl.start(cl.apiServerComponent())
	if err != nil {
		return err
	}
	if err := cl.waitHealthy(ctx, ctrd); err != nil {
		return err
	}
	var pause built
	select {
	case pause = <-pauseCh:
	case <-ctx.Done():
		return ctx.Err()
	}
	if pause.err != nil {
		return pause.err
	}
	if err := cl.importImage(ctx, pause.path); err != nil {
		return err
	}
	log.Info("imported pause image")
	if err := cl.waitHealthy(ctx, api); err != nil {
		return err
	}
	if err := cl.recordKubeChains(ctx); err != nil {
		return err
	}
	var rest []*running
	for _, comp := range []component{cl.controllerManagerComponent(), cl.schedulerComponent(), cl.kubeletComponent(), cl.kubeProxyComponent()} {
		r, err := cl.start(comp)
		if err != nil {
			return err
		}
		rest = append(rest, r)
	}
	kubelet, proxy := rest[2], rest[3]
	for _, r := range rest[:3] {
		if err := cl.waitHealthy(ctx, r); err != nil {
			return err
		}
	}
	if err := cl.waitNodeReady(ctx, kubelet, 2*time.Minute); err != nil {
		return err
	}
	// kube-proxy finds the node's addresses once the kubelet registered
	// it; it is healthy after its first sync of the rules.
	return cl.waitHealthy(ctx, proxy)
}

// writeFiles lays out the work folder: PKI, kubeconfigs, component configs.
func (cl *Cluster) writeFiles() error {
	p := cl.p
	for _, d := range []string{p.work, p.sockets, p.logs, p.run, p.containerd, p.ctrRoot, p.ctrState,
		p.runcRoot, p.kubelet, p.podLogs, p.cniConf, p.cniIPAM, p.images} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("local: %w", err)
		}
	}
	if err := os.MkdirAll(p.etcd, 0o700); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if err := cl.cfg.writePKI(p.pki); err != nil {
		return err
	}
	kubeconfigs := map[string]string{
		"admin":              cl.Kubeconfig(),
		"controller-manager": filepath.Join(p.pki, "controller-manager.kubeconfig"),
		"scheduler":          filepath.Join(p.pki, "scheduler.kubeconfig"),
		"kubelet":            filepath.Join(p.pki, "kubelet.kubeconfig"),
		"kube-proxy":         filepath.Join(p.pki, "kube-proxy.kubeconfig"),
	}
	for id, path := range kubeconfigs {
		data, err := cl.cfg.renderKubeconfig(p.pki, id)
		if err != nil {
			return err
		}
		if err := os.WriteFile(path, data, 0o600); err != nil {
			return fmt.Errorf("local: %w", err)
		}
	}
	if err := os.WriteFile(p.ctrConfig, []byte(cl.cfg.renderContainerd(p)), 0o644); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	cni, err := cl.cfg.renderCNI(p.cniIPAM)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.cniConf, "10-firedrill.conflist"), cni, 0o644); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	kubelet, err := cl.cfg.renderKubelet(p)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(p.kubelet, "config.json"), kubelet, 0o644); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	proxy, err := cl.cfg.renderKubeProxy(filepath.Join(p.pki, "kube-proxy.kubeconfig"))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(cl.kubeProxyConfigFile()), 0o755); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	if err := os.WriteFile(cl.kubeProxyConfigFile(), proxy, 0o644); err != nil {
		return fmt.Errorf("local: %w", err)
	}
	return nil
}

// Delete tears the cluster down; see teardown.
func (cl *Cluster) Delete(ctx context.Context) error {
	if err := cl.cfg.validate(); err != nil {
		return err
	}
	if os.Geteuid() != 0 {
		return ErrNotRoot
	}
	unlock, err := cl.lock(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	cl.cfg.logger.Info("deleting cluster", "name", cl.cfg.name)
	if err := cl.teardown(ctx); err != nil {
		return err
	}
	return os.RemoveAll(cl.failedLogsDir())
}

// LoadImage imports an image tarball into the cluster's containerd.
func (cl *Cluster) LoadImage(ctx context.Context, tarball string) error {
	if r, ok := cl.pidFiles()[compContainerd]; !ok || !r.Alive() {
		return fmt.Errorf("local: containerd of cluster %q is not running (no cluster at %s?)", cl.cfg.name, cl.p.work)
	}
	if _, err := run(ctx, "ctr", "--address", cl.p.ctrSock, "version"); err != nil {
		return fmt.Errorf("local: containerd of cluster %q is not running: %w", cl.cfg.name, err)
	}
	if err := cl.importImage(ctx, tarball); err != nil {
		return err
	}
	cl.cfg.logger.Info("loaded image", "tarball", tarball)
	return nil
}

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func splitLines(s string) []string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimSpace(lines[i])
	}
	return lines
}
