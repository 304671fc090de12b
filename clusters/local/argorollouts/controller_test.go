package argorollouts

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestVersionMatchesHack keeps Version in sync with hack/versions.env, which
// hack/build-argo-rollouts.sh builds.
func TestVersionMatchesHack(t *testing.T) {
	f, err := os.Open("../../../hack/versions.env")
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
	require.Equal(t, pins["ARGO_ROLLOUTS_VERSION"], Version)
}

func TestDefaultDir(t *testing.T) {
	t.Setenv("FIREDRILL_ARGO_ROLLOUTS_DIR", "")
	t.Setenv("FIREDRILL_CACHE", "/c")
	require.Equal(t, "/c/tools/argo-rollouts-"+Version, DefaultDir())
	require.Equal(t, "/c/tools/argo-rollouts-"+Version+"/bin/rollouts-controller", Binary(DefaultDir()))
	t.Setenv("FIREDRILL_ARGO_ROLLOUTS_DIR", "/x")
	require.Equal(t, "/x", DefaultDir())
}

func TestArgs(t *testing.T) {
	c := &Controller{kubeconfig: "/k/config", namespace: "ns", metricsPort: 18090, healthzPort: 18080}
	require.Equal(t, []string{
		"--kubeconfig=/k/config", "--namespaced", "--namespace=ns", "--leader-elect=false",
		"--metricsPort=18090", "--healthzPort=18080", "--loglevel=info", "--logformat=text",
	}, c.args())
	require.Equal(t, "http://127.0.0.1:18080/healthz", c.HealthzURL())
	require.Equal(t, "http://127.0.0.1:18090/metrics", c.MetricsURL())
}

func TestChoosePorts(t *testing.T) {
	c := &Controller{}
	require.NoError(t, c.choosePorts())
	require.NotZero(t, c.metricsPort)
	require.NotZero(t, c.healthzPort)
	require.NotEqual(t, c.metricsPort, c.healthzPort)
	c = &Controller{metricsPort: 1, healthzPort: 1}
	require.ErrorContains(t, c.choosePorts(), "both 1")
}

func TestStartNeedsTheBuild(t *testing.T) {
	_, err := Start(context.Background(), "/nonexistent", WithToolDir(t.TempDir()))
	require.ErrorContains(t, err, "run hack/build-argo-rollouts.sh")
}

func TestCRDs(t *testing.T) {
	dir := t.TempDir()
	_, err := CRDs(dir)
	require.ErrorContains(t, err, "no CRDs")
	require.NoError(t, os.MkdirAll(filepath.Join(dir, "crds"), 0o755))
	crd := "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata:\n  name: rollouts.argoproj.io\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, "crds", "b-crd.yaml"), []byte(crd), 0o644))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "crds", "a-crd.yaml"), []byte(strings.Replace(crd, "rollouts.", "analysisruns.", 1)), 0o644))
	objs, err := CRDs(dir)
	require.NoError(t, err)
	require.Len(t, objs, 2)
	require.Equal(t, "analysisruns.argoproj.io", objs[0].GetName(), "file-name order")
	require.NoError(t, os.WriteFile(filepath.Join(dir, "crds", "c.yaml"), []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"), 0o644))
	_, err = CRDs(dir)
	require.ErrorContains(t, err, "not a CRD")
}

// TestBuiltCRDs checks the CRDs of the real build, where it exists: the
// five of the release, Rollout among them.
func TestBuiltCRDs(t *testing.T) {
	dir := DefaultDir()
	if _, err := os.Stat(filepath.Join(dir, ".stamp")); err != nil {
		t.Skipf("skipping: %s not built (run hack/build-argo-rollouts.sh)", dir)
	}
	objs, err := CRDs(dir)
	require.NoError(t, err)
	var names []string
	for _, o := range objs {
		names = append(names, o.GetName())
	}
	require.ElementsMatch(t, []string{
		"analysisruns.argoproj.io", "analysistemplates.argoproj.io", "clusteranalysistemplates.argoproj.io",
		"experiments.argoproj.io", "rollouts.argoproj.io",
	}, names)
}
