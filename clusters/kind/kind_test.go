package kind

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/kind/pkg/apis/config/defaults"
	"sigs.k8s.io/kind/pkg/apis/config/v1alpha4"
	"sigs.k8s.io/kind/pkg/cluster/nodes"
	"sigs.k8s.io/yaml"
)

func TestCIConfig(t *testing.T) {
	raw, err := os.ReadFile("../../kind-config/ci.yaml")
	require.NoError(t, err)
	var cfg v1alpha4.Cluster
	require.NoError(t, yaml.UnmarshalStrict(raw, &cfg), "strict: no unknown fields")
	require.Equal(t, "Cluster", cfg.Kind)
	require.Equal(t, "kind.x-k8s.io/v1alpha4", cfg.APIVersion)
	roles := map[v1alpha4.NodeRole]int{}
	for _, n := range cfg.Nodes {
		roles[n.Role]++
		require.Equal(t, defaults.Image, n.Image, "node image pinned to the kind library's own default")
	}
	require.Equal(t, map[v1alpha4.NodeRole]int{v1alpha4.ControlPlaneRole: 1, v1alpha4.WorkerRole: 2}, roles)
	pm := cfg.Nodes[0].ExtraPortMappings
	require.Len(t, pm, 1)
	require.Equal(t, int32(30090), pm[0].ContainerPort)
	require.Equal(t, int32(9090), pm[0].HostPort)
	require.Equal(t, "127.0.0.1", pm[0].ListenAddress, "Prometheus is published on loopback only")
}

type fakeNode struct {
	nodes.Node
	name string
}

func (n fakeNode) String() string { return n.name }

type fakeLister struct {
	nodes []nodes.Node
	err   error
}

func (f fakeLister) ListInternalNodes(string) ([]nodes.Node, error) { return f.nodes, f.err }

func TestLoadImageIntoEveryNode(t *testing.T) {
	tarball := filepath.Join(t.TempDir(), "img.tar")
	require.NoError(t, os.WriteFile(tarball, []byte("tar"), 0o644))
	c := New(WithName("ci"))
	c.nodes = func() (nodeLister, error) {
		return fakeLister{nodes: []nodes.Node{fakeNode{name: "cp"}, fakeNode{name: "w1"}, fakeNode{name: "w2"}}}, nil
	}
	var loaded []string
	c.load = func(n nodes.Node, f *os.File) error {
		b, err := os.ReadFile(f.Name())
		require.NoError(t, err)
		require.Equal(t, "tar", string(b))
		loaded = append(loaded, n.String())
		return nil
	}
	require.NoError(t, c.LoadImage(context.Background(), tarball))
	require.Equal(t, []string{"cp", "w1", "w2"}, loaded)

	c.load = func(n nodes.Node, _ *os.File) error { return errors.New("boom") }
	require.ErrorContains(t, c.LoadImage(context.Background(), tarball), "into node cp: boom")
}

func TestLoadImageErrors(t *testing.T) {
	c := New()
	require.ErrorContains(t, c.LoadImage(context.Background(), filepath.Join(t.TempDir(), "none.tar")), "image tarball")
	tarball := filepath.Join(t.TempDir(), "img.tar")
	require.NoError(t, os.WriteFile(tarball, nil, 0o644))
	c.nodes = func() (nodeLister, error) { return fakeLister{}, nil }
	require.ErrorContains(t, c.LoadImage(context.Background(), tarball), "has no nodes")
	c.nodes = func() (nodeLister, error) { return nil, ErrNoContainerEngine }
	require.ErrorIs(t, c.LoadImage(context.Background(), tarball), ErrNoContainerEngine)
}

func TestDefaults(t *testing.T) {
	c := New()
	require.Equal(t, "kind", c.Name())
	require.Equal(t, filepath.Join(os.TempDir(), "firedrill-kind-firedrill.kubeconfig"), c.Kubeconfig())
}
