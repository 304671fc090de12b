package prometheus

import (
	"fmt"
	"os"
	"time"

	"go.yaml.in/yaml/v3"
)

// scrapeConfig renders prometheus.yml: one job that discovers the pods of
// the cluster and keeps those annotated for scraping, with the labels
// drills and the engine query by (namespace, pod, app, track, version,
// pod_template_hash).
func renderConfig(self, kubeconfig string, interval time.Duration, ruleFiles []string, namespaces []string) ([]byte, error) {
	sd := map[string]any{
		"role":            "pod",
		"kubeconfig_file": kubeconfig,
	}
	if len(namespaces) > 0 {
		sd["namespaces"] = map[string]any{"names": namespaces}
	}
	relabel := []map[string]any{
		{"source_labels": []string{"__meta_kubernetes_pod_annotation_prometheus_io_scrape"}, "regex": "true", "action": "keep"},
		{"source_labels": []string{"__meta_kubernetes_pod_phase"}, "regex": "Running", "action": "keep"},
		{"source_labels": []string{"__meta_kubernetes_pod_annotation_prometheus_io_path"}, "regex": "(.+)", "target_label": "__metrics_path__"},
		{
			"source_labels": []string{"__meta_kubernetes_pod_ip", "__meta_kubernetes_pod_annotation_prometheus_io_port"},
			"regex":         `(.+);(\d+)`,
			"replacement":   "$1:$2",
			"target_label":  "__address__",
		},
		{"source_labels": []string{"__meta_kubernetes_namespace"}, "target_label": "namespace"},
		{"source_labels": []string{"__meta_kubernetes_pod_name"}, "target_label": "pod"},
		{"source_labels": []string{"__meta_kubernetes_pod_label_app"}, "target_label": "app"},
		{"source_labels": []string{"__meta_kubernetes_pod_label_track"}, "target_label": "track"},
		{"source_labels": []string{"__meta_kubernetes_pod_label_version"}, "target_label": "version"},
		{"source_labels": []string{"__meta_kubernetes_pod_label_pod_template_hash"}, "target_label": "pod_template_hash"},
	}
	cfg := map[string]any{
		"global": map[string]any{
			"scrape_interval":     interval.String(),
			"scrape_timeout":      interval.String(),
			"evaluation_interval": interval.String(),
		},
		"rule_files": ruleFiles,
		"scrape_configs": []map[string]any{
			{
				"job_name":              "kubernetes-pods",
				"kubernetes_sd_configs": []map[string]any{sd},
				"relabel_configs":       relabel,
			},
			{
				"job_name":       "prometheus",
				"static_configs": []map[string]any{{"targets": []string{self}}},
			},
		},
	}
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, fmt.Errorf("prometheus: render config: %w", err)
	}
	return b, nil
}

// configuredInterval reads the global scrape interval of a prometheus.yml
// that renderConfig wrote; false if the file is missing or unreadable.
func configuredInterval(path string) (time.Duration, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	var cfg struct {
		Global struct {
			ScrapeInterval string `yaml:"scrape_interval"`
		} `yaml:"global"`
	}
	if err := yaml.Unmarshal(b, &cfg); err != nil {
		return 0, false
	}
	d, err := time.ParseDuration(cfg.Global.ScrapeInterval)
	if err != nil {
		return 0, false
	}
	return d, true
}
