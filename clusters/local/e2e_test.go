package local

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/e2e-framework/pkg/types"
)

func TestE2EProviderOptions(t *testing.T) {
	home := t.TempDir()
	var p types.E2EClusterProviderWithImageLoader = NewE2EProvider(WithHome(home))
	p.WithName("suite").WithPath("/opt/k8s/bin").WithOpts(func(c types.E2EClusterProvider) {
		c.WithVersion(KubernetesVersion)
	})
	lp := p.(*E2EProvider)
	require.Equal(t, "suite", lp.Cluster().ClusterName())
	require.Equal(t, "/opt/k8s/bin", lp.Cluster().cfg.kubeBinDir)
	require.Equal(t, filepath.Join(home, "clusters", "suite", "kubeconfig"), p.GetKubeconfig())
	require.Equal(t, "firedrill-suite", p.GetKubectlContext())
	require.Same(t, p, p.SetDefaults())

	_, err := p.CreateWithConfig(context.Background(), "kind.yaml")
	require.ErrorContains(t, err, "no config file")
	_, err = p.Create(context.Background(), "--extra")
	require.ErrorContains(t, err, "no extra arguments")
	p.WithVersion("v1.20.0")
	_, err = p.Create(context.Background())
	require.ErrorContains(t, err, "v1.20.0")

	_, err = p.GenerateKubeconfig()
	require.Error(t, err, "no kubeconfig before Create")
	require.ErrorContains(t, p.LoadImage(context.Background(), "payment:v1"), "tarball")
}

func TestE2EProviderExportLogs(t *testing.T) {
	home := t.TempDir()
	p := NewE2EProvider(WithHome(home), WithName("logs"))
	logs := p.Cluster().p.logs
	require.NoError(t, os.MkdirAll(logs, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(logs, "etcd.log"), []byte("hello\n"), 0o644))
	dest := filepath.Join(t.TempDir(), "out")
	require.NoError(t, p.ExportLogs(context.Background(), dest))
	b, err := os.ReadFile(filepath.Join(dest, "etcd.log"))
	require.NoError(t, err)
	require.Equal(t, "hello\n", string(b))
}
