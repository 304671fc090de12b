package signals

import (
	"fmt"
	"strings"

	"github.com/firedrill/firedrill/drills"
)

// HTTPErrors matches the HTTP status codes that count as errors: 5xx.
const HTTPErrors = `5..`

// GRPCErrors matches the gRPC codes that count as errors: those that mean
// the server failed (the ones gRPC maps to HTTP 5xx). Codes a correct
// server returns for a bad request (OK, Canceled, InvalidArgument,
// NotFound, AlreadyExists, PermissionDenied, ResourceExhausted,
// FailedPrecondition, Aborted, OutOfRange, Unauthenticated) are not
// errors of the release.
const GRPCErrors = `Unknown|DeadlineExceeded|Unimplemented|Internal|Unavailable|DataLoss`

// Convention is one way of reporting requests: the counter, the labels its
// status may be in (tried in order), which status values are errors, and
// the latency histograms that go with it.
type Convention struct {
	// Name of the convention.
	Name drills.MetricsConvention
	// Requests is the request counter series.
	Requests string
	// StatusLabels are the labels the status may be in, in order.
	StatusLabels []string
	// Errors is the regular expression of error status values.
	Errors string
	// Latency are the histogram bucket series that may go with it.
	Latency []string
}

// Conventions are the conventions Detect tries, in order.
var Conventions = []Convention{
	{
		Name: drills.ConventionPrometheus, Requests: "http_requests_total",
		StatusLabels: []string{"code", "status", "status_code"}, Errors: HTTPErrors,
		Latency: []string{"http_request_duration_seconds_bucket", "http_server_request_duration_seconds_bucket"},
	},
	{
		Name: drills.ConventionMicrometer, Requests: "http_server_requests_seconds_count",
		StatusLabels: []string{"status"}, Errors: HTTPErrors,
		Latency: []string{"http_server_requests_seconds_bucket"},
	},
	{
		Name: drills.ConventionOpenTelemetry, Requests: "http_server_request_duration_seconds_count",
		StatusLabels: []string{"http_response_status_code"}, Errors: HTTPErrors,
		Latency: []string{"http_server_request_duration_seconds_bucket"},
	},
	{
		Name: drills.ConventionGRPC, Requests: "grpc_server_handled_total",
		StatusLabels: []string{"grpc_code"}, Errors: GRPCErrors,
		Latency: []string{"grpc_server_handling_seconds_bucket"},
	},
}

// conventionsFor returns the conventions to try for what the drill says
// (nil: all): the named convention only, and the drill's own counter,
// status label and histogram in place of the convention's.
func conventionsFor(want *drills.TargetMetrics) []Convention {
	var out []Convention
	for _, c := range Conventions {
		if want == nil {
			out = append(out, c)
			continue
		}
		if want.Convention != "" && want.Convention != c.Name {
			continue
		}
		if want.Requests != "" {
			c.Requests = want.Requests
		}
		if want.StatusLabel != "" {
			c.StatusLabels = []string{want.StatusLabel}
		}
		if want.Latency != "" {
			c.Latency = []string{want.Latency}
		}
		out = append(out, c)
	}
	return out
}

// describe names what the conventions look for, for messages:
// http_requests_total{code|status|status_code}, ...
func describe(cs []Convention) string {
	var parts []string
	for _, c := range cs {
		parts = append(parts, fmt.Sprintf("%s{%s} (%s)", c.Requests, strings.Join(c.StatusLabels, "|"), c.Name))
	}
	return strings.Join(parts, ", ")
}
