package main

import (
	"net/http"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// unmatchedPath is the path label of requests that match no route, so that
// scanners and typos cannot grow the label set.
const unmatchedPath = "unmatched"

// durationBuckets are fine around the drills' 500 ms p99 SLO and the 1 s
// latency-spike threshold (the slow behaviour adds 1.5 s).
var durationBuckets = []float64{
	0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.75, 0.9,
	1, 1.25, 1.5, 1.75, 2, 2.5, 3, 5, 10,
}

// Metrics holds the service's collectors in its own registry.
type Metrics struct {
	registry  *prometheus.Registry
	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	inFlight  prometheus.Gauge
	mismatch  prometheus.Gauge
	buildInfo *prometheus.GaugeVec
}

// NewMetrics registers, in a new registry, http_requests_total,
// http_request_duration_seconds, http_requests_in_flight,
// ledger_balance_mismatch,
// payment_build_info (set to 1 for version and behaviour) and the Go and
// process collectors.
func NewMetrics(version string, behaviour Behaviour) *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "http_requests_total",
			Help: "HTTP requests to the payment API by status code, method and route pattern.",
		}, []string{"code", "method", "path"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "http_request_duration_seconds",
			Help:    "Latency of payment API requests by method and route pattern.",
			Buckets: durationBuckets,
		}, []string{"method", "path"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "http_requests_in_flight",
			Help: "Payment API requests being served.",
		}),
		mismatch: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ledger_balance_mismatch",
			Help: "Absolute difference between the sum of account balances and ledger_total; 0 when the ledger is consistent.",
		}),
		buildInfo: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "payment_build_info",
			Help: "Always 1; labels give the release version and behaviour.",
		}, []string{"version", "behaviour"}),
	}
	m.registry.MustRegister(
		m.requests, m.duration, m.inFlight, m.mismatch, m.buildInfo,
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	m.buildInfo.WithLabelValues(version, string(behaviour)).Set(1)
	return m
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// Registry returns the registry, for tests and extra collectors.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// SetMismatch sets ledger_balance_mismatch.
func (m *Metrics) SetMismatch(v int64) { m.mismatch.Set(float64(v)) }

// instrument wraps h so that it counts, times and tracks in flight the
// requests under the path label of pattern (see routeLabel). The method
// label is promhttp's lower-case form ("get", "post").
func (m *Metrics) instrument(pattern string, h http.Handler) http.Handler {
	path := prometheus.Labels{"path": routeLabel(pattern)}
	// Start the route's common series at zero, so that a new pod's first
	// requests and first errors count in increase() and rate(): a series
	// that appears with its first error already at 1 loses that error,
	// which delays detection of a bad release by about one error.
	if method := routeMethod(pattern); method != "" {
		for _, code := range initialCodes {
			m.requests.WithLabelValues(code, method, path["path"])
		}
	}
	h = promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(path), h)
	h = promhttp.InstrumentHandlerCounter(m.requests.MustCurryWith(path), h)
	return promhttp.InstrumentHandlerInFlight(m.inFlight, h)
}

// initialCodes are the status codes whose series every route starts with.
var initialCodes = []string{"200", "500", "503"}

// routeMethod is the method label promhttp gives the requests of pattern
// ("GET /x" -> "get"), or "" when the pattern names no method.
func routeMethod(pattern string) string {
	p := strings.TrimSpace(pattern)
	i := strings.IndexAny(p, " \t")
	if i <= 0 {
		return ""
	}
	return strings.ToLower(p[:i])
}

// routeLabel turns a ServeMux pattern such as "GET /balances/{id}" into the
// path label "/balances/{id}": the method and any host are dropped, the
// wildcards kept, so every account shares one series. An empty pattern
// (no route matched) is "unmatched".
func routeLabel(pattern string) string {
	p := strings.TrimSpace(pattern)
	if i := strings.IndexAny(p, " \t"); i >= 0 {
		p = strings.TrimSpace(p[i+1:])
	}
	if i := strings.Index(p, "/"); i > 0 {
		p = p[i:] // drop a host: "example.com/x" -> "/x"
	}
	if p == "" || !strings.HasPrefix(p, "/") {
		return unmatchedPath
	}
	return p
}
