package kind

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"sigs.k8s.io/kind/pkg/cluster"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/kind/pkg/cluster/nodeutils"

	"github.com/firedrill/firedrill/clusters"
)

// ProviderName is the provider's name.
const ProviderName = "kind"

// DefaultName is the default kind cluster name.
const DefaultName = "firedrill"

// Option configures a Cluster.
type Option func(*Cluster)

// WithName sets the kind cluster name (default "firedrill").
func WithName(name string) Option { return func(c *Cluster) { c.name = name } }

// WithConfig sets the raw kind cluster config (kind.x-k8s.io/v1alpha4).
func WithConfig(raw []byte) Option { return func(c *Cluster) { c.config = raw } }

// WithKubeconfig sets where the kubeconfig is written (default
// $TMPDIR/firedrill-kind-<name>.kubeconfig).
func WithKubeconfig(path string) Option { return func(c *Cluster) { c.kubeconfig = path } }

// WithWaitForReady sets how long Create waits for the control plane.
func WithWaitForReady(d time.Duration) Option { return func(c *Cluster) { c.wait = d } }

// nodeLister is the part of the kind provider LoadImage needs; tests
// replace it.
type nodeLister interface {
	ListInternalNodes(name string) ([]nodes.Node, error)
}

// Cluster is one kind cluster.
type Cluster struct {
	name       string
	config     []byte
	kubeconfig string
	wait       time.Duration
	provider   func() (*cluster.Provider, error)
	nodes      func() (nodeLister, error)
	load       func(n nodes.Node, f *os.File) error
}

var _ clusters.Provider = (*Cluster)(nil)

// New returns a kind cluster handle; nothing is created until Create.
func New(opts ...Option) *Cluster {
	c := &Cluster{name: DefaultName, wait: 5 * time.Minute}
	for _, o := range opts {
		o(c)
	}
	if c.kubeconfig == "" {
		c.kubeconfig = filepath.Join(os.TempDir(), "firedrill-kind-"+c.name+".kubeconfig")
	}
	c.provider = detectProvider
	c.nodes = func() (nodeLister, error) { return detectProvider() }
	c.load = func(n nodes.Node, f *os.File) error { return nodeutils.LoadImageArchive(n, f) }
	return c
}

// ErrNoContainerEngine means neither Docker nor Podman (nor nerdctl) is
// available, so kind cannot run here.
var ErrNoContainerEngine = errors.New("kind: no container engine (docker, podman or nerdctl) is available on this machine")

func detectProvider() (*cluster.Provider, error) {
	opt, err := cluster.DetectNodeProvider()
	if err != nil || opt == nil {
		return nil, ErrNoContainerEngine
	}
	return cluster.NewProvider(opt), nil
}

// Name implements clusters.Provider.
func (c *Cluster) Name() string { return ProviderName }

// Kubeconfig implements clusters.Provider.
func (c *Cluster) Kubeconfig() string { return c.kubeconfig }

// Create implements clusters.Provider: it creates the cluster (or reuses
// one of the same name) and writes its kubeconfig.
func (c *Cluster) Create(ctx context.Context) error {
	p, err := c.provider()
	if err != nil {
		return err
	}
	existing, err := p.List()
	if err != nil {
		return fmt.Errorf("kind: list clusters: %w", err)
	}
	for _, n := range existing {
		if n == c.name {
			return p.ExportKubeConfig(c.name, c.kubeconfig, false)
		}
	}
	opts := []cluster.CreateOption{
		cluster.CreateWithKubeconfigPath(c.kubeconfig),
		cluster.CreateWithWaitForReady(c.wait),
		cluster.CreateWithDisplayUsage(false),
		cluster.CreateWithDisplaySalutation(false),
	}
	if len(c.config) > 0 {
		opts = append(opts, cluster.CreateWithRawConfig(c.config))
	}
	done := make(chan error, 1)
	go func() { done <- p.Create(c.name, opts...) }()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("kind: create %s: %w", c.name, err)
		}
		return nil
	case <-ctx.Done():
		// kind's Create cannot be cancelled; remove what it made once it
		// returns.
		<-done
		_ = p.Delete(c.name, c.kubeconfig)
		return ctx.Err()
	}
}

// Delete implements clusters.Provider.
func (c *Cluster) Delete(_ context.Context) error {
	p, err := c.provider()
	if err != nil {
		return err
	}
	if err := p.Delete(c.name, c.kubeconfig); err != nil {
		return fmt.Errorf("kind: delete %s: %w", c.name, err)
	}
	return nil
}

// LoadImage implements clusters.Provider: the tarball is imported into the
// containerd of every node of the cluster, as `kind load image-archive`
// does.
func (c *Cluster) LoadImage(ctx context.Context, tarball string) error {
	if _, err := os.Stat(tarball); err != nil {
		return fmt.Errorf("kind: image tarball: %w", err)
	}
	p, err := c.nodes()
	if err != nil {
		return err
	}
	ns, err := p.ListInternalNodes(c.name)
	if err != nil {
		return fmt.Errorf("kind: list nodes of %s: %w", c.name, err)
	}
	if len(ns) == 0 {
		return fmt.Errorf("kind: cluster %q has no nodes (is it created?)", c.name)
	}
	for _, n := range ns {
		if err := ctx.Err(); err != nil {
			return err
		}
		f, err := os.Open(tarball)
		if err != nil {
			return fmt.Errorf("kind: %w", err)
		}
		err = c.load(n, f)
		f.Close()
		if err != nil {
			return fmt.Errorf("kind: load %s into node %s: %w", filepath.Base(tarball), n.String(), err)
		}
	}
	return nil
}
