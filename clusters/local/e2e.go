package local

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/e2e-framework/klient"
	"sigs.k8s.io/e2e-framework/pkg/types"
)

// E2EProvider adapts the local cluster to sigs.k8s.io/e2e-framework's
// cluster provider interface, so that e2e suites can use
// envfuncs.CreateClusterWithConfig / DestroyCluster / LoadImageArchiveToCluster
// with the embedded cluster:
//
//	p := local.NewE2EProvider(local.WithLogger(logger))
//	testenv.Setup(envfuncs.CreateCluster(p, "firedrill"))
//	testenv.Finish(envfuncs.DestroyCluster("firedrill"))
type E2EProvider struct {
	opts    []Option
	cluster *Cluster
	rc      *rest.Config
}

var _ types.E2EClusterProviderWithImageLoader = (*E2EProvider)(nil)

// NewE2EProvider returns an e2e-framework provider backed by a Cluster with
// the given options.
func NewE2EProvider(opts ...Option) *E2EProvider {
	return &E2EProvider{opts: opts, cluster: New(opts...)}
}

// Cluster returns the underlying local cluster.
func (p *E2EProvider) Cluster() *Cluster { return p.cluster }

func (p *E2EProvider) with(opt Option) *E2EProvider {
	p.opts = append(p.opts, opt)
	p.cluster = New(p.opts...)
	return p
}

// WithName sets the cluster name.
func (p *E2EProvider) WithName(name string) types.E2EClusterProvider { return p.with(WithName(name)) }

// WithVersion is accepted for interface compatibility; the local cluster
// always runs the pinned KubernetesVersion, and another version is reported
// as an error by Create.
func (p *E2EProvider) WithVersion(version string) types.E2EClusterProvider {
	if version != "" && version != KubernetesVersion {
		return p.with(func(c *config) { c.versionMismatch = version })
	}
	return p
}

// WithPath sets the folder holding the Kubernetes binaries.
func (p *E2EProvider) WithPath(path string) types.E2EClusterProvider {
	return p.with(WithKubernetesBinDir(path))
}

// WithOpts applies e2e-framework cluster options.
func (p *E2EProvider) WithOpts(opts ...types.ClusterOpts) types.E2EClusterProvider {
	for _, o := range opts {
		o(p)
	}
	return p
}

// Create brings the cluster up (or reuses it) and returns its kubeconfig.
// Extra args are not supported.
func (p *E2EProvider) Create(ctx context.Context, args ...string) (string, error) {
	if p.cluster.cfg.versionMismatch != "" {
		return "", fmt.Errorf("local: Kubernetes %s requested, the local cluster runs %s", p.cluster.cfg.versionMismatch, KubernetesVersion)
	}
	if len(args) > 0 {
		return "", fmt.Errorf("local: Create takes no extra arguments, got %v", args)
	}
	if err := p.cluster.Create(ctx); err != nil {
		return "", err
	}
	return p.cluster.Kubeconfig(), nil
}

// CreateWithConfig is Create; the local cluster takes no config file.
func (p *E2EProvider) CreateWithConfig(ctx context.Context, configFile string) (string, error) {
	if configFile != "" {
		return "", fmt.Errorf("local: the local cluster takes no config file (got %s); use options", configFile)
	}
	return p.Create(ctx)
}

// GetKubeconfig returns the admin kubeconfig path.
func (p *E2EProvider) GetKubeconfig() string { return p.cluster.Kubeconfig() }

// GenerateKubeconfig returns the admin kubeconfig path.
func (p *E2EProvider) GenerateKubeconfig(args ...string) (string, error) {
	if _, err := os.Stat(p.cluster.Kubeconfig()); err != nil {
		return "", fmt.Errorf("local: kubeconfig: %w", err)
	}
	return p.cluster.Kubeconfig(), nil
}

// GetKubectlContext returns the kubeconfig's context name.
func (p *E2EProvider) GetKubectlContext() string { return "firedrill-" + p.cluster.cfg.name }

// ExportLogs copies the components' logs into dest.
func (p *E2EProvider) ExportLogs(ctx context.Context, dest string) error {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return fmt.Errorf("local: export logs: %w", err)
	}
	entries, err := os.ReadDir(p.cluster.p.logs)
	if err != nil {
		return fmt.Errorf("local: export logs: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() {
			continue
		}
		if err := copyFile(filepath.Join(p.cluster.p.logs, e.Name()), filepath.Join(dest, e.Name())); err != nil {
			return fmt.Errorf("local: export logs: %w", err)
		}
	}
	return nil
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(dst)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// Destroy deletes the cluster.
func (p *E2EProvider) Destroy(ctx context.Context) error { return p.cluster.Delete(ctx) }

// SetDefaults returns p; defaults are applied by New.
func (p *E2EProvider) SetDefaults() types.E2EClusterProvider { return p }

// WaitForControlPlane checks that every component is healthy; Create has
// already waited for them and for the node.
func (p *E2EProvider) WaitForControlPlane(ctx context.Context, _ klient.Client) error {
	st, err := p.cluster.Status(ctx)
	if err != nil {
		return err
	}
	if !st.Healthy() {
		return fmt.Errorf("local: cluster %q is not healthy: %+v", p.cluster.cfg.name, st.Components)
	}
	return nil
}

// KubernetesRestConfig returns the admin client config, or nil if the
// cluster has no kubeconfig yet.
func (p *E2EProvider) KubernetesRestConfig() *rest.Config {
	if p.rc == nil {
		rc, err := p.cluster.RESTConfig()
		if err != nil {
			return nil
		}
		p.rc = rc
	}
	return p.rc
}

// LoadImage loads an image into the cluster. Without a Docker engine there is
// no local image store to copy from, so image must be the path of an image
// tarball (docker-archive or OCI), as built by clusters/images.
func (p *E2EProvider) LoadImage(ctx context.Context, image string, args ...string) error {
	if _, err := os.Stat(image); err != nil {
		return fmt.Errorf("local: LoadImage needs an image tarball path (there is no Docker engine to export %q from): %w", image, err)
	}
	return p.cluster.LoadImage(ctx, image)
}

// LoadImageArchive imports an image tarball into the cluster.
func (p *E2EProvider) LoadImageArchive(ctx context.Context, archivePath string, args ...string) error {
	return p.cluster.LoadImage(ctx, archivePath)
}
