package bench

import (
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/rest"

	"github.com/firedrill/firedrill/drills"
)

func TestArgoObjects(t *testing.T) {
	for _, s := range []ArgoSetting{ArgoDocumented, ArgoFastest} {
		objs, err := ArgoObjects(s, "payment:v2-buggy")
		require.NoError(t, err)
		var ro *unstructured.Unstructured
		templates := map[string]bool{}
		for _, o := range objs {
			switch o.GetKind() {
			case "Rollout":
				ro = o
			case "AnalysisTemplate":
				templates[o.GetName()] = true
			}
		}
		require.NotNil(t, ro)
		require.True(t, templates[s.Template()], "deploy/argo holds template %s", s.Template())
		tmpls, _, _ := unstructured.NestedSlice(ro.Object, "spec", "strategy", "canary", "analysis", "templates")
		require.Equal(t, s.Template(), tmpls[0].(map[string]any)["templateName"])
		ctrs, _, _ := unstructured.NestedSlice(ro.Object, "spec", "template", "spec", "containers")
		require.Equal(t, "payment:v2-buggy", ctrs[0].(map[string]any)["image"])
	}
}

func TestArgoConfigDefaults(t *testing.T) {
	tr := drills.Traffic{Rate: 50, Requests: []drills.RequestTemplate{{Path: "/"}}}
	cfg := ArgoConfig{REST: &rest.Config{}, Setting: ArgoDocumented, Traffic: tr}
	require.NoError(t, cfg.defaults())
	require.Equal(t, DefaultArgoDocumentedTimeout, cfg.Timeout)
	require.Equal(t, DefaultBadImage, cfg.BadImage)
	require.Equal(t, DefaultGoodImage, cfg.GoodImage)
	require.Equal(t, DefaultRecoveredRatio, cfg.RecoveredRatio)
	require.Equal(t, DefaultPrometheusURL, cfg.PrometheusURL)
	cfg = ArgoConfig{REST: &rest.Config{}, Setting: ArgoFastest, Traffic: tr}
	require.NoError(t, cfg.defaults())
	require.Equal(t, DefaultArgoTimeout, cfg.Timeout)

	for name, bad := range map[string]ArgoConfig{
		"no REST":       {Setting: ArgoFastest, Traffic: tr},
		"no setting":    {REST: &rest.Config{}, Traffic: tr},
		"other setting": {REST: &rest.Config{}, Setting: "slowest", Traffic: tr},
		"no traffic":    {REST: &rest.Config{}, Setting: ArgoFastest},
	} {
		require.Error(t, bad.defaults(), name)
	}
}

func rollout(t *testing.T, yaml string) *unstructured.Unstructured {
	t.Helper()
	var u unstructured.Unstructured
	require.NoError(t, sigsYAML(yaml, &u.Object))
	return &u
}

func TestRolloutHealthy(t *testing.T) {
	const base = `
apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {generation: 3}
spec:
  replicas: 5
  template: {spec: {containers: [{name: payment, image: "payment:v1"}]}}
status:
  phase: Healthy
  observedGeneration: "3"
  stableRS: abc
  currentPodHash: abc
  updatedReplicas: 5
  availableReplicas: 5
  replicas: 5
`
	ok, why := rolloutHealthy(rollout(t, base), "payment:v1")
	require.True(t, ok, why)
	ok, _ = rolloutHealthy(rollout(t, base), "payment:v2-buggy")
	require.False(t, ok, "another image")
	for name, change := range map[string][2]string{
		"canary running":  {"currentPodHash: abc", "currentPodHash: def"},
		"aborted":         {"phase: Healthy", "phase: Healthy\n  abort: true"},
		"degraded":        {"phase: Healthy", "phase: Degraded"},
		"old generation":  {`observedGeneration: "3"`, `observedGeneration: "2"`},
		"pods missing":    {"availableReplicas: 5", "availableReplicas: 4"},
		"surge remaining": {"availableReplicas: 5\n  replicas: 5", "availableReplicas: 5\n  replicas: 6"},
	} {
		y := replaceOnce(t, base, change[0], change[1])
		ok, why := rolloutHealthy(rollout(t, y), "payment:v1")
		require.False(t, ok, "%s: %s", name, why)
	}
}

func TestCountMeasurements(t *testing.T) {
	run := rollout(t, `
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
status:
  phase: Failed
  metricResults:
  - name: success-rate
    measurements:
    - {phase: Successful, value: "[1]", startedAt: "2026-01-01T00:00:00Z", finishedAt: "2026-01-01T00:00:01Z"}
    - {phase: Failed}
    - {phase: Error}
    - {phase: Failed}
`)
	total, failed := countMeasurements(run)
	require.Equal(t, 4, total)
	require.Equal(t, 2, failed)
	log := measurementLog(run)
	require.Len(t, log, 4)
	require.Equal(t, ArgoMeasurement{Phase: "Successful", Value: "[1]", StartedAt: "2026-01-01T00:00:00Z", FinishedAt: "2026-01-01T00:00:01Z"}, log[0])
	require.Equal(t, "Failed", log[3].Phase)
}

func TestErrorRatioExpr(t *testing.T) {
	m := &argoRun{}
	require.Equal(t,
		`(sum(rate(http_requests_total{namespace="firedrill-demo",pod=~"payment-argo-.*",code=~"5.."}[15s])) or vector(0)) / sum(rate(http_requests_total{namespace="firedrill-demo",pod=~"payment-argo-.*"}[15s]))`,
		m.errorRatioExpr())
}

func TestOtherPodsExpr(t *testing.T) {
	m := &argoRun{}
	require.Equal(t,
		`sum(rate(http_requests_total{namespace="firedrill-demo",pod=~"payment-argo-.*",pod!~"payment-argo-abc12-.*"}[15s]))`,
		m.otherPodsExpr("abc12"))
}
