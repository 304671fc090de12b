package signals

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

// fakeProm serves /api/v1/series over a fixed set of series, applying the
// match[] selectors as Prometheus does; it records the selectors asked.
func fakeProm(t *testing.T, series []map[string]string) (v1.API, *[]string) {
	t.Helper()
	var asked []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		require.NoError(t, r.ParseForm())
		require.Equal(t, "/api/v1/series", r.URL.Path)
		out := []map[string]string{}
		for _, m := range r.Form["match[]"] {
			asked = append(asked, m)
			ms, err := parser.NewParser(parser.Options{}).ParseMetricSelector(m)
			require.NoError(t, err)
			for _, s := range series {
				if matchAll(ms, s) {
					out = append(out, s)
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		require.NoError(t, json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": out}))
	}))
	t.Cleanup(srv.Close)
	c, err := promapi.NewClient(promapi.Config{Address: srv.URL})
	require.NoError(t, err)
	return v1.NewAPI(c), &asked
}

func matchAll(ms []*labels.Matcher, s map[string]string) bool {
	for _, m := range ms {
		if !m.Matches(s[m.Name]) {
			return false
		}
	}
	return true
}

var scope = drills.TargetScope(drills.Target{Namespace: "shop", Name: "cart"})

func series(name string, kv ...string) map[string]string {
	s := map[string]string{"__name__": name, "namespace": "shop", "pod": "cart-7d9f8b6c4-x2k9q"}
	for i := 0; i+1 < len(kv); i += 2 {
		s[kv[i]] = kv[i+1]
	}
	return s
}

func TestDetectConventions(t *testing.T) {
	for _, tc := range []struct {
		name   string
		series []map[string]string
		want   Metrics
	}{
		{"prometheus code", []map[string]string{
			series("http_requests_total", "code", "200"),
			series("http_request_duration_seconds_bucket", "le", "0.1"),
		}, Metrics{Convention: drills.ConventionPrometheus, Requests: "http_requests_total", StatusLabel: "code", Errors: HTTPErrors, Latency: "http_request_duration_seconds_bucket"}},
		{"prometheus status", []map[string]string{series("http_requests_total", "status", "200")},
			Metrics{Convention: drills.ConventionPrometheus, Requests: "http_requests_total", StatusLabel: "status", Errors: HTTPErrors}},
		{"prometheus status_code", []map[string]string{series("http_requests_total", "status_code", "200")},
			Metrics{Convention: drills.ConventionPrometheus, Requests: "http_requests_total", StatusLabel: "status_code", Errors: HTTPErrors}},
		{"micrometer", []map[string]string{
			series("http_server_requests_seconds_count", "status", "200", "uri", "/"),
			series("http_server_requests_seconds_bucket", "status", "200", "le", "0.1"),
		}, Metrics{Convention: drills.ConventionMicrometer, Requests: "http_server_requests_seconds_count", StatusLabel: "status", Errors: HTTPErrors, Latency: "http_server_requests_seconds_bucket"}},
		{"opentelemetry", []map[string]string{
			series("http_server_request_duration_seconds_count", "http_response_status_code", "200"),
			series("http_server_request_duration_seconds_bucket", "http_response_status_code", "200", "le", "0.1"),
		}, Metrics{Convention: drills.ConventionOpenTelemetry, Requests: "http_server_request_duration_seconds_count", StatusLabel: "http_response_status_code", Errors: HTTPErrors, Latency: "http_server_request_duration_seconds_bucket"}},
		{"grpc", []map[string]string{
			series("grpc_server_handled_total", "grpc_code", "OK", "grpc_method", "Get"),
			series("grpc_server_handling_seconds_bucket", "le", "0.1"),
		}, Metrics{Convention: drills.ConventionGRPC, Requests: "grpc_server_handled_total", StatusLabel: "grpc_code", Errors: GRPCErrors, Latency: "grpc_server_handling_seconds_bucket"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Another workload's series in the same namespace and the
			// same series in another namespace must not count.
			noise := []map[string]string{
				{"__name__": "http_requests_total", "code": "200", "namespace": "shop", "pod": "cart-api-7d9f8b6c4-x2k9q"},
				{"__name__": "grpc_server_handled_total", "grpc_code": "OK", "namespace": "other", "pod": "cart-7d9f8b6c4-x2k9q"},
			}
			api, asked := fakeProm(t, append(tc.series, noise...))
			got, err := Detect(context.Background(), api, scope, nil, time.Now())
			require.NoError(t, err)
			require.NotEmpty(t, got.Found)
			require.Contains(t, got.Found, tc.want.Requests)
			if tc.want.Latency != "" {
				require.Contains(t, got.LatencyFound, tc.want.Latency)
			}
			got.Found, got.LatencyFound = "", ""
			require.Equal(t, tc.want, got)
			require.Contains(t, (*asked)[0], `namespace="shop",pod=~"cart-[a-z0-9]{1,10}-[a-z0-9]{5}"`)
		})
	}
}

func TestDetectFromDrill(t *testing.T) {
	api, _ := fakeProm(t, []map[string]string{
		series("http_requests_total", "code", "200"),
		series("myapp_requests_total", "result", "200"),
		series("grpc_server_handled_total", "grpc_code", "OK"),
	})
	ctx := context.Background()
	// The convention narrows detection.
	got, err := Detect(ctx, api, scope, &drills.TargetMetrics{Convention: drills.ConventionGRPC}, time.Now())
	require.NoError(t, err)
	require.Equal(t, "grpc_server_handled_total", got.Requests)
	// Counter and label named: taken as they are, no detection needed.
	got, err = Detect(ctx, api, scope, &drills.TargetMetrics{Requests: "myapp_requests_total", StatusLabel: "result"}, time.Now())
	require.NoError(t, err)
	require.Equal(t, Metrics{Convention: drills.ConventionPrometheus, Requests: "myapp_requests_total", StatusLabel: "result", Errors: HTTPErrors}, got)
	// A named counter whose status label is detected.
	got, err = Detect(ctx, api, scope, &drills.TargetMetrics{Requests: "http_requests_total"}, time.Now())
	require.NoError(t, err)
	require.Equal(t, "code", got.StatusLabel)
}

func TestDetectNothingFound(t *testing.T) {
	api, _ := fakeProm(t, []map[string]string{
		// Only another workload has request metrics.
		{"__name__": "http_requests_total", "code": "200", "namespace": "shop", "pod": "other-7d9f8b6c4-x2k9q"},
		// The target's counter without any status label is not enough.
		series("http_requests_total", "method", "get"),
		series("up"),
	})
	_, err := Detect(context.Background(), api, scope, nil, time.Now())
	require.ErrorIs(t, err, ErrNoMetrics)
	require.EqualError(t, err, `no request metrics found for the pods of cart (namespace="shop", pod=~"cart-[a-z0-9]{1,10}-[a-z0-9]{5}") in the last 15m0s: `+
		`looked for http_requests_total{code|status|status_code} (prometheus), http_server_requests_seconds_count{status} (micrometer), `+
		`http_server_request_duration_seconds_count{http_response_status_code} (opentelemetry), grpc_server_handled_total{grpc_code} (grpc); `+
		`name the workload's own in spec.target.metrics (requests, statusLabel, latency)`, "the pods are scraped (up exists): no hint about scraping")

	api, _ = fakeProm(t, nil)
	_, err = Detect(context.Background(), api, scope, &drills.TargetMetrics{Convention: drills.ConventionMicrometer}, time.Now())
	require.ErrorIs(t, err, ErrNoMetrics)
	require.ErrorContains(t, err, "looked for http_server_requests_seconds_count{status} (micrometer);")
	require.ErrorContains(t, err, "; name the workload's own in spec.target.metrics")
	require.ErrorContains(t, err, "Prometheus scrapes none of these pods (no up series)")
}

func TestGenerate(t *testing.T) {
	m := Metrics{Convention: drills.ConventionPrometheus, Requests: "http_requests_total", StatusLabel: "status", Errors: HTTPErrors, Latency: "http_request_duration_seconds_bucket"}
	rules := Rules(m, scope, Options{})
	require.Len(t, rules, 2)
	sel := `namespace="shop",pod=~"cart-[a-z0-9]{1,10}-[a-z0-9]{5}"`
	require.Equal(t, `(sum(rate(http_requests_total{`+sel+`,status=~"5.."}[15s])) or vector(0)) / sum(rate(http_requests_total{`+sel+`}[15s]))`, rules[0].Expr)
	require.Equal(t, ErrorRateRule, rules[0].Name)
	require.Equal(t, 0.05, rules[0].Threshold)
	require.Equal(t, 3*time.Second, rules[0].For.Duration)
	require.Equal(t, drills.SeverityCritical, rules[0].Severity)
	require.Equal(t, `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{`+sel+`}[15s])))`, rules[1].Expr)
	require.Equal(t, 1.0, rules[1].Threshold, "twice the default p99 SLO, in seconds")
	require.Equal(t, `sum(rate(http_requests_total{`+sel+`}[1m]))`, RequestRate(m, scope))
	e, tot := Statistical(m, scope)
	rev := `namespace="shop",pod=~"cart-{{.Revision}}-[a-z0-9]{5}"`
	require.Equal(t, `sum(increase(http_requests_total{`+rev+`,status=~"5.."}[1m]))`, e)
	require.Equal(t, `sum(increase(http_requests_total{`+rev+`}[1m]))`, tot)

	g := Metrics{Convention: drills.ConventionGRPC, Requests: "grpc_server_handled_total", StatusLabel: "grpc_code", Errors: GRPCErrors}
	rules = Rules(g, scope, Options{Window: 30 * time.Second, P99: 250 * time.Millisecond})
	require.Len(t, rules, 1, "no histogram, no latency rule")
	require.Equal(t, `(sum(rate(grpc_server_handled_total{`+sel+`,grpc_code=~"Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss"}[30s])) or vector(0)) / sum(rate(grpc_server_handled_total{`+sel+`}[30s]))`, rules[0].Expr)

	// Every generated expression is valid, scoped PromQL.
	for _, x := range []string{rules[0].Expr, RequestRate(m, scope), e, tot} {
		bad, err := drills.Unscoped(x)
		require.NoError(t, err, x)
		require.Empty(t, bad, x)
	}
}

func TestApply(t *testing.T) {
	m := Metrics{Convention: drills.ConventionPrometheus, Requests: "http_requests_total", StatusLabel: "code", Errors: HTTPErrors}
	on := true
	g := drills.Guard{DefaultRules: &on, Rules: []drills.Rule{{Name: "Mine", Expr: "x"}, {Name: ErrorRateRule, Expr: "mine"}},
		RequestRateExpr: "given", Statistical: &drills.Statistical{TotalExpr: "given"}}
	did := Apply(&g, m, scope, Options{})
	require.Len(t, g.Rules, 2, "a rule the drill names itself is not generated again; no histogram, no latency rule")
	require.Equal(t, "mine", g.Rules[1].Expr)
	require.Equal(t, "given", g.RequestRateExpr)
	require.Equal(t, "given", g.Statistical.TotalExpr)
	require.Contains(t, g.Statistical.ErrorsExpr, `pod=~"cart-{{.Revision}}-[a-z0-9]{5}"`)
	require.Len(t, did, 1)

	off := false
	g = drills.Guard{DefaultRules: &off}
	did = Apply(&g, m, scope, Options{})
	require.Empty(t, g.Rules)
	require.Equal(t, RequestRate(m, scope), g.RequestRateExpr)
	require.Equal(t, []string{"request rate: " + g.RequestRateExpr}, did)
}

func TestNeeded(t *testing.T) {
	on, off := true, false
	for _, tc := range []struct {
		name string
		g    *drills.Guard
		want bool
	}{
		{"no guard", nil, false},
		{"default rules", &drills.Guard{DefaultRules: &on}, true},
		{"own non-ratio rules", &drills.Guard{DefaultRules: &off, Rules: []drills.Rule{{Expr: `max(x{namespace="n"})`}}}, false},
		{"own ratio rule, no request rate", &drills.Guard{DefaultRules: &off, Rules: []drills.Rule{{Expr: `a{namespace="n"} / b{namespace="n"}`}}}, true},
		{"own ratio rule with request rate", &drills.Guard{DefaultRules: &off, RequestRateExpr: "r", Rules: []drills.Rule{{Expr: `a{namespace="n"} / b{namespace="n"}`}}}, false},
		{"statistical without exprs", &drills.Guard{DefaultRules: &off, Statistical: &drills.Statistical{}}, true},
		{"statistical with exprs", &drills.Guard{DefaultRules: &off, Statistical: &drills.Statistical{ErrorsExpr: "e", TotalExpr: "t"}}, false},
	} {
		require.Equal(t, tc.want, Needed(tc.g), tc.name)
	}
}
