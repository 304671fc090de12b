package kind

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"
)

// TestWorkflowIsConsistent checks the documented GitHub Actions workflow
// that runs the drills on kind (it cannot run on these machines): it
// parses, uses the CI kind config and the NodePort kind-config maps, and
// every repository file it names exists.
func TestWorkflowIsConsistent(t *testing.T) {
	raw, err := os.ReadFile("../../.github/workflows/drills-kind.yaml")
	require.NoError(t, err)
	var wf struct {
		Jobs map[string]struct {
			Steps []struct {
				Name string `json:"name"`
				Run  string `json:"run"`
				Uses string `json:"uses"`
			} `json:"steps"`
		} `json:"jobs"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &wf))
	job, ok := wf.Jobs["drills"]
	require.True(t, ok, "job drills")
	var script strings.Builder
	for _, s := range job.Steps {
		script.WriteString(s.Run + "\n")
	}
	run := script.String()
	require.Contains(t, run, "kind create cluster --config kind-config/ci.yaml")
	require.Contains(t, run, "kind load image-archive")
	require.Contains(t, run, "helm install chaos-mesh")
	require.Contains(t, run, "firedrill run --kubeconfig")

	paths := regexp.MustCompile(`(?:deploy|drills|kind-config)/[A-Za-z0-9_./-]+`).FindAllString(run, -1)
	require.NotEmpty(t, paths)
	for _, p := range paths {
		_, err := os.Stat(filepath.Join("../..", strings.TrimSuffix(p, "/")))
		require.NoError(t, err, "the workflow names %s", p)
	}
	prom, err := os.ReadFile("../../deploy/kind/20-prometheus.yaml")
	require.NoError(t, err)
	require.Contains(t, string(prom), "nodePort: 30090", "the NodePort kind-config/ci.yaml maps to 127.0.0.1:9090")
}
