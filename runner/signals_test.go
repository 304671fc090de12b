package runner

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine/signals"
)

// seriesProm answers /api/v1/series with series when the selector names
// the target's pods, and with nothing otherwise.
func seriesProm(t *testing.T, series []map[string]string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		out := []map[string]string{}
		for _, m := range r.Form["match[]"] {
			for _, s := range series {
				if strings.Contains(m, `pod=~"payment-`) && strings.Contains(m, s["__name__"]) {
					out = append(out, s)
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		require.NoError(t, json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": out}))
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func signalsDrill(url string) *drills.Drill {
	d := &drills.Drill{APIVersion: drills.APIVersion, Kind: drills.KindDrill, Metadata: drills.Metadata{Name: "t"}, Spec: drills.Spec{
		Target:     drills.Target{Namespace: "demo", Name: "payment"},
		Prometheus: &drills.Prometheus{URL: url},
		Guard: &drills.Guard{
			Kubernetes:  &drills.KubernetesSignals{CrashLoop: true},
			Statistical: &drills.Statistical{},
		},
		SLO:    drills.SLO{Consistency: []drills.ConsistencyCheck{{Name: "c", PromQL: &drills.PromQLCheck{Expr: `max(m{ {{.Scope}} })`}}}},
		Faults: []drills.Fault{{Type: drills.FaultPodKill}},
	}}
	d.Default()
	return d
}

func TestResolveSignals(t *testing.T) {
	url := seriesProm(t, []map[string]string{
		{"__name__": "http_requests_total", "code": "200", "namespace": "demo", "pod": "payment-7d9f8b6c4-x2k9q"},
		{"__name__": "http_request_duration_seconds_bucket", "le": "0.1", "namespace": "demo", "pod": "payment-7d9f8b6c4-x2k9q"},
	})
	orig := signalsDrill(url)
	require.NoError(t, orig.Validate())
	d, err := runCopy(orig)
	require.NoError(t, err)
	r := New(nil)
	run := r.newRun(d)
	run.prom, err = DefaultPrometheus(url)
	require.NoError(t, err)

	require.NoError(t, run.resolveSignals(context.Background()))
	g := d.Spec.Guard
	require.Len(t, g.Rules, 2)
	require.Equal(t, signals.ErrorRateRule, g.Rules[0].Name)
	require.Contains(t, g.Rules[0].Expr, `http_requests_total{namespace="demo",pod=~"payment-[a-z0-9]{1,10}-[a-z0-9]{5}",code=~"5.."}`)
	require.Equal(t, `sum(rate(http_requests_total{namespace="demo",pod=~"payment-[a-z0-9]{1,10}-[a-z0-9]{5}"}[1m]))`, g.RequestRateExpr)
	require.Contains(t, g.Statistical.ErrorsExpr, `pod=~"payment-{{.Revision}}-[a-z0-9]{5}"`)
	require.Contains(t, d.Spec.SLO.Consistency[0].PromQL.Expr, `namespace="demo"`)
	require.Contains(t, run.res.Events[0].Message, "target metrics detected: prometheus metrics: requests http_requests_total{code=~\"5..\"} (found {")

	// The drill the scheduler runs again is untouched.
	require.Empty(t, orig.Spec.Guard.Rules)
	require.Empty(t, orig.Spec.Guard.RequestRateExpr)
	require.Empty(t, orig.Spec.Guard.Statistical.ErrorsExpr)
	require.Equal(t, `max(m{ {{.Scope}} })`, orig.Spec.SLO.Consistency[0].PromQL.Expr)

	// Once per run.
	n := len(run.res.Events)
	require.NoError(t, run.resolveSignals(context.Background()))
	require.Len(t, run.res.Events, n)
	require.Len(t, g.Rules, 2)
}

func TestResolveSignalsNothingFound(t *testing.T) {
	url := seriesProm(t, nil)
	d, err := runCopy(signalsDrill(url))
	require.NoError(t, err)
	run := New(nil).newRun(d)
	run.prom, err = DefaultPrometheus(url)
	require.NoError(t, err)
	err = run.resolveSignals(context.Background())
	require.ErrorIs(t, err, signals.ErrNoMetrics)
	require.ErrorContains(t, err, "spec.target.metrics")
	require.Empty(t, d.Spec.Guard.Rules)

	// A guard that leaves nothing to the generated signals needs no
	// metrics at all.
	off := false
	d.Spec.Guard.DefaultRules = &off
	d.Spec.Guard.Statistical = nil
	d.Spec.Guard.Rules = []drills.Rule{{Name: "r", Expr: `max(m{namespace="demo"})`}}
	require.NoError(t, run.resolveSignals(context.Background()))
}
