// Package signals knows how workloads report their requests to Prometheus
// and turns that into the guard's signals. Detect finds, among the series
// of the target's own pods, which of the common conventions the workload
// follows (the Prometheus client libraries' http_requests_total,
// Micrometer, OpenTelemetry, gRPC); Generate builds from the result the
// error-rate and latency rules, the low-traffic guard's request rate and
// the statistical test's counters, every expression selecting the
// target's namespace and pods. The engine receives these ready, scoped
// expressions and never guesses metric names itself.
package signals
