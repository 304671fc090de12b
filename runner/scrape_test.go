package runner

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

// targetsProm is an httptest Prometheus whose /api/v1/targets answers
// body.
func targetsProm(t *testing.T, body string) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/targets" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// targetsJSON is /api/v1/targets as Prometheus answers it: one active
// target per pod of the demo's kubernetes_sd job, scraped every interval.
func targetsJSON(interval string) string {
	return `{"status":"success","data":{"activeTargets":[
  {"discoveredLabels":{"__address__":"10.244.0.7:8080","__meta_kubernetes_namespace":"shop","__meta_kubernetes_pod_name":"web-abc","__scrape_interval__":"` + interval + `","job":"pods"},
   "labels":{"instance":"10.244.0.7:8080","job":"pods","namespace":"shop","pod":"web-abc"},
   "scrapePool":"pods","scrapeUrl":"http://10.244.0.7:8080/metrics","globalUrl":"","lastError":"","lastScrape":"2026-12-07T03:00:00Z","lastScrapeDuration":0.001,"health":"up","scrapeInterval":"` + interval + `","scrapeTimeout":"10s"},
  {"discoveredLabels":{"__address__":"10.244.0.9:9100","__scrape_interval__":"1m","job":"other"},
   "labels":{"instance":"10.244.0.9:9100","job":"other"},
   "scrapePool":"other","scrapeUrl":"http://10.244.0.9:9100/metrics","globalUrl":"","lastError":"","lastScrape":"2026-12-07T03:00:00Z","lastScrapeDuration":0.001,"health":"up","scrapeInterval":"1m","scrapeTimeout":"10s"}
],"droppedTargets":[]}}`
}

func pod(ns, name, ip string) corev1.Pod {
	return corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name}, Status: corev1.PodStatus{PodIP: ip}}
}

func scrapeDrill(t *testing.T, ruleExpr string) *drills.Drill {
	t.Helper()
	src := `apiVersion: firedrill.dev/v1alpha1
kind: Drill
metadata:
  name: windows
spec:
  target: {namespace: shop, name: web, port: 8080}
  prometheus: {url: "http://127.0.0.1:9090"}
  guard:
    rules:
      - name: Up
        expr: up{namespace="shop"}
        threshold: 1
      - name: HighErrorRate
        expr: ` + ruleExpr + `
        threshold: 0.05
        scope: cluster
  faults:
    - type: pod-kill
  traffic: {rate: 1, requests: [{path: /}]}
`
	ds, err := drills.Load("drills/windows.yaml", []byte(src))
	require.NoError(t, err)
	return ds[0]
}

func TestScrapeIntervalMatchesTargetPods(t *testing.T) {
	api, err := DefaultPrometheus(targetsProm(t, targetsJSON("15s")).URL)
	require.NoError(t, err)
	ctx := context.Background()
	for name, tc := range map[string]struct {
		pods []corev1.Pod
		want time.Duration
	}{
		"by namespace and pod": {[]corev1.Pod{pod("shop", "web-abc", "")}, 15 * time.Second},
		"by pod IP":            {[]corev1.Pod{pod("other", "renamed", "10.244.0.7")}, 15 * time.Second},
		"by IP, longest wins":  {[]corev1.Pod{pod("shop", "web-abc", ""), pod("x", "y", "10.244.0.9")}, time.Minute},
		"same name, other ns":  {[]corev1.Pod{pod("prod", "web-abc", "")}, 0},
		"not scraped":          {[]corev1.Pod{pod("shop", "web-zzz", "10.244.0.100")}, 0},
		"no pods":              {nil, 0},
	} {
		t.Run(name, func(t *testing.T) {
			got, where, err := scrapeInterval(ctx, api, tc.pods)
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
			if tc.want > 0 {
				require.Contains(t, where, "every")
			} else {
				require.Empty(t, where)
			}
		})
	}
}

func TestScrapeWindowsRefusedWithFileLine(t *testing.T) {
	api, err := DefaultPrometheus(targetsProm(t, targetsJSON("15s")).URL)
	require.NoError(t, err)
	interval, where, err := scrapeInterval(context.Background(), api, []corev1.Pod{pod("shop", "web-abc", "10.244.0.7")})
	require.NoError(t, err)
	require.Equal(t, 15*time.Second, interval)

	for name, tc := range map[string]struct {
		expr string
		want string // "" = accepted
	}{
		"5s refused":       {`sum(rate(http_requests_total{code=~"5.."}[5s])) / sum(rate(http_requests_total[5s]))`, "drills/windows.yaml:14: spec.guard.rules[1].expr: window [5s], [5s] is shorter than 4× the target's scrape interval (15s, from Prometheus: pods every 15s): use at least [1m]"},
		"subquery refused": {`max_over_time(up[30s:5s])`, "drills/windows.yaml:14: spec.guard.rules[1].expr: window [30s] is shorter"},
		"nested refused":   {`max_over_time(rate(x[20s])[5m:])`, "window [20s] is shorter"},
		"1m ok":            {`sum(rate(http_requests_total[1m]))`, ""},
		"no range ok":      {`sum(http_requests_total)`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			d := scrapeDrill(t, tc.expr)
			err := checkScrapeWindows(d, true, interval, where)
			if tc.want == "" {
				require.NoError(t, err)
				return
			}
			require.ErrorContains(t, err, tc.want)
			var list drills.ErrorList
			require.ErrorAs(t, err, &list)
			require.Len(t, list, 1)
			require.Equal(t, 14, list[0].Line)
			// Without the guard the rules never run: nothing to refuse.
			require.NoError(t, checkScrapeWindows(d, false, interval, where))
		})
	}
	// At the demo's 500 ms scrape, [5s] is fine.
	require.NoError(t, checkScrapeWindows(scrapeDrill(t, `rate(x[5s])`), true, 500*time.Millisecond, "pods every 500ms"))
	// Unknown interval: nothing is checked.
	require.NoError(t, checkScrapeWindows(scrapeDrill(t, `rate(x[5s])`), true, 0, ""))
}

func TestScrapeIntervalPrometheusDown(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "boom", http.StatusInternalServerError)
	}))
	defer srv.Close()
	api, err := DefaultPrometheus(srv.URL)
	require.NoError(t, err)
	_, _, err = scrapeInterval(context.Background(), api, []corev1.Pod{pod("shop", "web-abc", "")})
	require.ErrorContains(t, err, "prometheus targets")
}

func TestCheckScrapeReadsTheTargetsPods(t *testing.T) {
	web := pod("shop", "web-abc", "10.244.0.7")
	web.Labels = map[string]string{"app": "web"}
	other := pod("shop", "db-0", "10.244.0.8")
	other.Labels = map[string]string{"app": "db"}
	api, err := DefaultPrometheus(targetsProm(t, targetsJSON("15s")).URL)
	require.NoError(t, err)
	r := New(fake.NewClientset(&web, &other))
	ctx := context.Background()
	notes := func(run *Run) []string {
		var out []string
		for _, e := range run.res.Events {
			out = append(out, e.Message)
		}
		return out
	}

	run := r.newRun(scrapeDrill(t, `rate(x[5s])`))
	run.prom = api
	err = run.checkScrape(ctx, "shop", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}})
	require.ErrorContains(t, err, "drills/windows.yaml:14: spec.guard.rules[1].expr: window [5s] is shorter than 4×")
	require.Contains(t, notes(run), "target scraped every 15s (pods every 15s); PromQL windows must be at least 1m")

	run = r.newRun(scrapeDrill(t, `rate(x[1m])`))
	run.prom = api
	require.NoError(t, run.checkScrape(ctx, "shop", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}))

	// Prometheus does not scrape the db pods: a warning, and on.
	run = r.newRun(scrapeDrill(t, `rate(x[5s])`))
	run.prom = api
	require.NoError(t, run.checkScrape(ctx, "shop", &metav1.LabelSelector{MatchLabels: map[string]string{"app": "db"}}))
	require.Len(t, notes(run), 1)
	require.Contains(t, notes(run)[0], "warning: Prometheus scrapes none of the target's 1 pods")
}
