package prometheus

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"

	"github.com/firedrill/firedrill/internal/testenv"
)

func TestRenderConfig(t *testing.T) {
	b, err := renderConfig("127.0.0.1:9090", "/k/kubeconfig", time.Second, []string{"/r/rules.yaml"}, []string{"firedrill-demo"})
	require.NoError(t, err)
	var cfg struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
		RuleFiles     []string `yaml:"rule_files"`
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
			SD      []struct {
				Role       string `yaml:"role"`
				Kubeconfig string `yaml:"kubeconfig_file"`
				Namespaces struct {
					Names []string `yaml:"names"`
				} `yaml:"namespaces"`
			} `yaml:"kubernetes_sd_configs"`
			Relabel []map[string]any `yaml:"relabel_configs"`
		} `yaml:"scrape_configs"`
	}
	require.NoError(t, yaml.Unmarshal(b, &cfg))
	require.Equal(t, "1s", cfg.Global.ScrapeInterval)
	require.Equal(t, []string{"/r/rules.yaml"}, cfg.RuleFiles)
	require.Equal(t, "kubernetes-pods", cfg.ScrapeConfigs[0].JobName)
	require.Equal(t, "pod", cfg.ScrapeConfigs[0].SD[0].Role)
	require.Equal(t, "/k/kubeconfig", cfg.ScrapeConfigs[0].SD[0].Kubeconfig)
	require.Equal(t, []string{"firedrill-demo"}, cfg.ScrapeConfigs[0].SD[0].Namespaces.Names)
	var targets []string
	for _, r := range cfg.ScrapeConfigs[0].Relabel {
		if tl, ok := r["target_label"].(string); ok {
			targets = append(targets, tl)
		}
	}
	require.Subset(t, targets, []string{"__address__", "namespace", "pod", "pod_template_hash", "track", "version"})
}

// TestSeedRulesPassPromtool checks the shipped alert rules with the real
// promtool of the pinned Prometheus build.
func TestSeedRulesPassPromtool(t *testing.T) {
	promtool := filepath.Join(DefaultBinDir(), "promtool")
	testenv.Integration(t, promtool)
	out, err := exec.Command(promtool, "check", "rules", "../../../deploy/prometheus/rules.yaml").CombinedOutput()
	require.NoError(t, err, string(out))
	require.Contains(t, string(out), "3 rules found")
}

func TestConfiguredIntervalReadsRenderedConfig(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []time.Duration{DefaultScrapeInterval, 15 * time.Second, time.Minute} {
		b, err := renderConfig("127.0.0.1:9090", "/k/kubeconfig", d, nil, nil)
		require.NoError(t, err)
		p := filepath.Join(dir, "prometheus.yml")
		require.NoError(t, os.WriteFile(p, b, 0o644))
		got, ok := configuredInterval(p)
		require.True(t, ok)
		require.Equal(t, d, got)
	}
	_, ok := configuredInterval(filepath.Join(dir, "missing.yml"))
	require.False(t, ok)
	bad := filepath.Join(dir, "bad.yml")
	require.NoError(t, os.WriteFile(bad, []byte("global: {scrape_interval: soon}\n"), 0o644))
	_, ok = configuredInterval(bad)
	require.False(t, ok)
}
