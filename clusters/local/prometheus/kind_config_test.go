package prometheus

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/firedrill/firedrill/internal/testenv"
)

// kindPrometheusConfig returns prometheus.yml from the in-cluster
// Prometheus manifest for kind (deploy/kind/20-prometheus.yaml).
func kindPrometheusConfig(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("../../../deploy/kind/20-prometheus.yaml")
	require.NoError(t, err)
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var cm struct {
			Kind     string                `yaml:"kind"`
			Metadata struct{ Name string } `yaml:"metadata"`
			Data     map[string]string     `yaml:"data"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &cm))
		if cm.Kind == "ConfigMap" && cm.Metadata.Name == "prometheus-config" {
			return cm.Data["prometheus.yml"]
		}
	}
	t.Fatal("no prometheus-config ConfigMap in deploy/kind/20-prometheus.yaml")
	return ""
}

// TestKindConfigMatchesLocal checks that Prometheus on kind scrapes as the
// local cluster's does: same interval and the same relabelled labels.
func TestKindConfigMatchesLocal(t *testing.T) {
	local, err := renderConfig("127.0.0.1:9090", "/k/kubeconfig", DefaultScrapeInterval, []string{"/r/rules.yaml"}, []string{"firedrill-demo"})
	require.NoError(t, err)
	type conf struct {
		Global        map[string]string `yaml:"global"`
		ScrapeConfigs []struct {
			JobName string           `yaml:"job_name"`
			Relabel []map[string]any `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	var want, got conf
	require.NoError(t, yaml.Unmarshal(local, &want))
	require.NoError(t, yaml.Unmarshal([]byte(kindPrometheusConfig(t)), &got))
	require.Equal(t, want.Global, got.Global)
	require.Equal(t, want.ScrapeConfigs[0].JobName, got.ScrapeConfigs[0].JobName)
	require.Equal(t, want.ScrapeConfigs[0].Relabel, got.ScrapeConfigs[0].Relabel)
}

// TestKindConfigPassesPromtool checks the kind Prometheus configuration,
// with the seed's rules in place, with the real promtool.
func TestKindConfigPassesPromtool(t *testing.T) {
	promtool := filepath.Join(DefaultBinDir(), "promtool")
	testenv.Integration(t, promtool)
	dir := t.TempDir()
	rules, err := filepath.Abs("../../../deploy/prometheus/rules.yaml")
	require.NoError(t, err)
	cfg := strings.ReplaceAll(kindPrometheusConfig(t), "/etc/prometheus/rules/rules.yaml", rules)
	path := filepath.Join(dir, "prometheus.yml")
	require.NoError(t, os.WriteFile(path, []byte(cfg), 0o644))
	out, err := exec.Command(promtool, "check", "config", "--syntax-only", path).CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "SUCCESS")
}

// TestKindPrometheusHasDetectionFlags checks that Prometheus on kind takes
// up new pods and counts their first requests as the local one does.
func TestKindPrometheusHasDetectionFlags(t *testing.T) {
	b, err := os.ReadFile("../../../deploy/kind/20-prometheus.yaml")
	require.NoError(t, err)
	var args []string
	for _, doc := range strings.Split(string(b), "\n---\n") {
		var dep struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Name string   `yaml:"name"`
							Args []string `yaml:"args"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		require.NoError(t, yaml.Unmarshal([]byte(doc), &dep))
		if dep.Kind == "Deployment" {
			for _, c := range dep.Spec.Template.Spec.Containers {
				if c.Name == "prometheus" {
					args = c.Args
				}
			}
		}
	}
	require.NotEmpty(t, args, "the prometheus container's args")
	for _, f := range detectionFlags(DefaultScrapeInterval) {
		require.Contains(t, args, f)
	}
}
