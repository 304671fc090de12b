package chaosmesh

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCRDsEmbedded(t *testing.T) {
	objs, err := CRDs()
	require.NoError(t, err)
	require.Len(t, objs, 23)
	names := map[string]bool{}
	for _, o := range objs {
		require.Equal(t, "CustomResourceDefinition", o.GetKind())
		require.Equal(t, "apiextensions.k8s.io/v1", o.GetAPIVersion())
		names[o.GetName()] = true
	}
	for _, n := range []string{"podchaos.chaos-mesh.org", "networkchaos.chaos-mesh.org", "schedules.chaos-mesh.org", "stresschaos.chaos-mesh.org"} {
		require.True(t, names[n], "CRD %s embedded", n)
	}
}

func TestWriteCerts(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "certs")
	require.NoError(t, writeCerts(dir))
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key"))
	require.NoError(t, err)
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	require.NoError(t, err)
	pool := x509.NewCertPool()
	ca, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	require.NoError(t, err)
	require.True(t, pool.AppendCertsFromPEM(ca))
	_, err = cert.Verify(x509.VerifyOptions{Roots: pool, DNSName: "127.0.0.1"})
	require.NoError(t, err, "the serving certificate is valid for 127.0.0.1 under ca.crt")
	fi, err := os.Stat(filepath.Join(dir, "tls.key"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	// A valid certificate is kept.
	before, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
	require.NoError(t, err)
	require.NoError(t, writeCerts(dir))
	after, err := os.ReadFile(filepath.Join(dir, "tls.crt"))
	require.NoError(t, err)
	require.Equal(t, before, after)
}

func TestDefaultBinDir(t *testing.T) {
	t.Setenv("FIREDRILL_CHAOS_MESH_BIN", "")
	t.Setenv("FIREDRILL_CACHE", "/tmp/cache")
	require.Equal(t, "/tmp/cache/tools/chaos-mesh-"+Version+"/bin", DefaultBinDir())
	t.Setenv("FIREDRILL_CHAOS_MESH_BIN", "/opt/cm")
	require.Equal(t, "/opt/cm", DefaultBinDir())
}

// The pin in hack/versions.env and Version agree.
func TestVersionMatchesPin(t *testing.T) {
	b, err := os.ReadFile("../../../hack/versions.env")
	require.NoError(t, err)
	require.Contains(t, strings.Split(string(b), "\n"), "CHAOS_MESH_VERSION="+Version)
}

func TestStartWithoutBinary(t *testing.T) {
	c := New(t.TempDir(), "/nonexistent/kubeconfig", WithBinDir(t.TempDir()))
	err := c.Start(context.Background())
	require.ErrorContains(t, err, "chaos-controller-manager not found")
	require.ErrorContains(t, err, "hack/build-chaos-mesh.sh")
	require.False(t, c.Running())
	require.NoError(t, c.Stop(context.Background()), "stopping nothing is fine")
}
