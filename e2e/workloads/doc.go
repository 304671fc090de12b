// Package workloads holds workloads firedrill did not write its metrics
// for, which the runner's integration tests (runner/foreign_integration_test.go)
// drill with no PromQL of their own:
//
//   - podinfo: github.com/stefanprodan/podinfo built unmodified from its own
//     module (the nested module in podinfo/ pins it);
//     http_requests_total{status}, --random-error fails a third of the
//     requests (500, 400 or 409).
//   - otel: the OpenTelemetry SDK's otelhttp handler and Prometheus exporter
//     (its own nested module, to keep the OTel SDK out of firedrill's
//     go.mod); http_server_request_duration_seconds{http_response_status_code}.
//   - micrometer: Micrometer's Prometheus naming with client_golang;
//     http_server_requests_seconds{status}.
//
// The otel and micrometer workloads fail ERROR_SHARE of their requests
// with HTTP 500; GREETING only changes what they answer.
package workloads
