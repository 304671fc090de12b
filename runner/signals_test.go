package runner

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

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

// At a 15 s scrape the generated windows span four scrapes, and the run
// says so.
func TestResolveSignalsWidensWindowsToTheScrape(t *testing.T) {
	url := seriesProm(t, []map[string]string{
		{"__name__": "http_requests_total", "code": "200", "namespace": "demo", "pod": "payment-7d9f8b6c4-x2k9q"},
	})
	d, err := runCopy(signalsDrill(url))
	require.NoError(t, err)
	run := New(nil).newRun(d)
	run.prom, err = DefaultPrometheus(url)
	require.NoError(t, err)
	run.scrape = 15 * time.Second
	require.NoError(t, run.resolveSignals(context.Background()))
	g := d.Spec.Guard
	require.Len(t, g.Rules, 1)
	require.Contains(t, g.Rules[0].Expr, "[1m]")
	require.NotContains(t, g.Rules[0].Expr, "[15s]")
	require.Contains(t, g.RequestRateExpr, "[1m]")
	require.NotContains(t, g.Statistical.TotalExpr, "increase(", "the statistical counts are cumulative")
	var msgs []string
	for _, e := range run.res.Events {
		msgs = append(msgs, e.Message)
	}
	require.Contains(t, msgs, "generated rules' rate window 15s → 1m, for the target's 15s scrape")
	// Every generated window passes the scrape check.
	require.NoError(t, checkScrapeWindows(d, true, run.scrape, "pods every 15s"))
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

// A workload Prometheus had not scraped yet at preflight (freshly rolled)
// gets its scrape interval read once its series exist, before the windows
// are generated: at a 15 s scrape they are widened, not left at [15s].
func TestResolveSignalsLearnsTheScrapeWhenTheSeriesAppear(t *testing.T) {
	series := seriesProm(t, []map[string]string{
		{"__name__": "http_requests_total", "code": "200", "namespace": "demo", "pod": "payment-7d9f8b6c4-x2k9q"},
	})
	targets := targetsProm(t, strings.NewReplacer("shop", "demo", "web-abc", "payment-7d9f8b6c4-x2k9q").Replace(targetsJSON("15s")))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		to := series
		if r.URL.Path == "/api/v1/targets" {
			to = targets.URL
		}
		http.Redirect(w, r, to+r.URL.RequestURI(), http.StatusTemporaryRedirect)
	}))
	t.Cleanup(srv.Close)
	p := pod("demo", "payment-7d9f8b6c4-x2k9q", "10.244.0.7")
	p.Labels = map[string]string{"app": "payment"}
	d, err := runCopy(signalsDrill(srv.URL))
	require.NoError(t, err)
	run := New(fake.NewClientset(&p)).newRun(d)
	run.prom, err = DefaultPrometheus(srv.URL)
	require.NoError(t, err)
	run.scrapeSel = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "payment"}}
	require.NoError(t, run.resolveSignals(context.Background()))
	require.Equal(t, 15*time.Second, run.scrape)
	require.Contains(t, d.Spec.Guard.Rules[0].Expr, "[1m]")
	require.NotContains(t, d.Spec.Guard.Rules[0].Expr, "[15s]")
}
