package drills

import (
	"bytes"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"text/template"

	"github.com/prometheus/prometheus/promql/parser"
)

// MetricsConvention names how a workload reports its requests.
type MetricsConvention string

// The metric conventions preflight knows how to detect.
const (
	// ConventionPrometheus is the client libraries' http_requests_total
	// with a code, status or status_code label and the
	// http_request_duration_seconds histogram.
	ConventionPrometheus MetricsConvention = "prometheus"
	// ConventionMicrometer is Spring Boot's
	// http_server_requests_seconds_{count,bucket}{status}.
	ConventionMicrometer MetricsConvention = "micrometer"
	// ConventionOpenTelemetry is the OpenTelemetry HTTP semantic
	// conventions exported to Prometheus:
	// http_server_request_duration_seconds_{count,bucket}{http_response_status_code}.
	ConventionOpenTelemetry MetricsConvention = "opentelemetry"
	// ConventionGRPC is go-grpc-prometheus / grpc-ecosystem's
	// grpc_server_handled_total{grpc_code} and
	// grpc_server_handling_seconds_bucket.
	ConventionGRPC MetricsConvention = "grpc"
)

// MetricsConventions lists the conventions in the order preflight tries them.
var MetricsConventions = []MetricsConvention{ConventionPrometheus, ConventionMicrometer, ConventionOpenTelemetry, ConventionGRPC}

// TargetMetrics says how the target reports its requests: what the
// generated error-rate and latency rules, the low-traffic guard and the
// statistical test read. Every field is optional: preflight detects what is
// left out from the Prometheus series of the target's own pods, among the
// series of Convention when it is set.
type TargetMetrics struct {
	// Convention narrows detection to one convention (prometheus,
	// micrometer, opentelemetry or grpc); it also decides which status
	// values count as errors (5xx for HTTP; for gRPC the codes Unknown,
	// DeadlineExceeded, Unimplemented, Internal, Unavailable and DataLoss).
	Convention MetricsConvention `json:"convention,omitempty" yaml:"convention,omitempty" jsonschema:"enum=prometheus,enum=micrometer,enum=opentelemetry,enum=grpc"`
	// Requests is the request counter series, e.g. http_requests_total or
	// http_server_requests_seconds_count.
	Requests string `json:"requests,omitempty" yaml:"requests,omitempty" jsonschema:"pattern=^[a-zA-Z_:][a-zA-Z0-9_:]*$"`
	// StatusLabel is the counter's status-code label, e.g. code or status.
	StatusLabel string `json:"statusLabel,omitempty" yaml:"statusLabel,omitempty" jsonschema:"pattern=^[a-zA-Z_][a-zA-Z0-9_]*$"`
	// Latency is the latency histogram's bucket series, e.g.
	// http_request_duration_seconds_bucket; without one no latency rule is
	// generated.
	Latency string `json:"latency,omitempty" yaml:"latency,omitempty" jsonschema:"pattern=^[a-zA-Z_:][a-zA-Z0-9_:]*_bucket$"`
}

// RuleScope says which series a rule may read.
type RuleScope string

// Rule scopes.
const (
	// ScopeTarget (default): every series selector of the rule must select
	// the target's namespace or pods, with a matcher or a placeholder.
	ScopeTarget RuleScope = "target"
	// ScopeCluster: the rule reads series of the whole cluster on purpose.
	ScopeCluster RuleScope = "cluster"
)

// Scope is the set of series that belong to the target: its namespace and
// the pods of its ReplicaSets (every revision's), as the namespace and pod
// labels that every kubernetes_sd scrape config sets.
type Scope struct {
	// Namespace of the target.
	Namespace string
	// Pods is an anchored RE2 regular expression matching the names of the
	// target's pods (any revision).
	Pods string
	// Workload is the Deployment's (or Rollout's) name.
	Workload string
}

// podSuffix is what a ReplicaSet appends to its pods' names: five
// characters of rand.String's alphabet.
const podSuffix = `[a-z0-9]{5}`

// TargetScope returns the scope of t: pods named <name>-<template hash>-<suffix>,
// which is how a Deployment's (and an Argo Rollout's) ReplicaSets name their
// pods. A sibling Deployment named <name>-x never matches: its pods have one
// more dash-separated part.
func TargetScope(t Target) Scope {
	name := regexp.QuoteMeta(t.Name)
	return Scope{Namespace: t.Namespace, Workload: t.Name, Pods: name + `-[a-z0-9]{1,10}-` + podSuffix}
}

// RevisionMatchers returns the label matchers that select the pods of one
// revision, with its pod template hash left as the placeholder
// {{.Revision}} that the statistical test fills in: a ReplicaSet's pods are
// named <workload>-<hash>-<suffix>, so no pod_template_hash label is needed.
func (s Scope) RevisionMatchers() string {
	return "namespace=" + strconv.Quote(s.Namespace) + ",pod=~" +
		strconv.Quote(regexp.QuoteMeta(s.Workload)+"-{{.Revision}}-"+podSuffix)
}

// Matchers returns the label matchers that select the scope, for use inside
// a series selector: namespace="ns",pod=~"...".
func (s Scope) Matchers() string {
	return "namespace=" + strconv.Quote(s.Namespace) + ",pod=~" + strconv.Quote(s.Pods)
}

// Placeholders documents the text/template placeholders a rule, the
// request-rate expression, the statistical expressions and a PromQL
// consistency check may use. A "{{" is never valid PromQL, so no
// expression expands by accident; write a space between a selector's brace
// and the placeholder: http_requests_total{ {{.Scope}} }.
const Placeholders = `{{.Scope}} (namespace="ns",pod=~"..."), {{.Namespace}}, {{.Pods}} (the pod-name regex), {{.Workload}}`

// placeholderData is what the placeholders expand to. Revision stays a
// placeholder: the statistical test fills it in per revision.
type placeholderData struct {
	Scope, Namespace, Pods, Workload, Revision string
}

// ExpandScope expands the scope placeholders of expr ({{.Scope}},
// {{.Namespace}}, {{.Pods}}, {{.Workload}}); {{.Revision}} is left for the
// statistical test. An expression without "{{" is returned as it is.
func (s Scope) ExpandScope(expr string) (string, error) {
	if !strings.Contains(expr, "{{") {
		return expr, nil
	}
	t, err := template.New("expr").Option("missingkey=error").Parse(expr)
	if err != nil {
		return "", fmt.Errorf("placeholders: %w", err)
	}
	var b bytes.Buffer
	data := placeholderData{Scope: s.Matchers(), Namespace: s.Namespace, Pods: s.Pods, Workload: s.Workload, Revision: "{{.Revision}}"}
	if err := t.Execute(&b, data); err != nil {
		return "", fmt.Errorf("placeholders (want %s): %w", Placeholders, err)
	}
	return b.String(), nil
}

// Unscoped returns the series selectors of a parsed PromQL expression that
// select neither a namespace nor a pod: what would read another workload's
// series.
func Unscoped(expr string) ([]string, error) {
	e, err := promParser.ParseExpr(expr)
	if err != nil {
		return nil, err
	}
	var out []string
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for _, m := range vs.LabelMatchers {
			if m.Name == "namespace" || m.Name == "pod" {
				return nil
			}
		}
		out = append(out, vs.String())
		return nil
	})
	return out, nil
}

// ExpandScope expands the scope placeholders of every expression the guard
// and the PromQL consistency checks send to Prometheus, in place (see
// Placeholders). It is idempotent; call it after Validate, before handing
// the guard to the engine.
func (d *Drill) ExpandScope() error {
	sc := TargetScope(d.Spec.Target)
	exp := func(path string, p *string) error {
		v, err := sc.ExpandScope(*p)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		*p = v
		return nil
	}
	if g := d.Spec.Guard; g != nil {
		for i := range g.Rules {
			if err := exp(fmt.Sprintf("spec.guard.rules[%d].expr", i), &g.Rules[i].Expr); err != nil {
				return err
			}
		}
		if err := exp("spec.guard.requestRateExpr", &g.RequestRateExpr); err != nil {
			return err
		}
		if st := g.Statistical; st != nil {
			if err := exp("spec.guard.statistical.errorsExpr", &st.ErrorsExpr); err != nil {
				return err
			}
			if err := exp("spec.guard.statistical.totalExpr", &st.TotalExpr); err != nil {
				return err
			}
		}
	}
	for i := range d.Spec.SLO.Consistency {
		if c := d.Spec.SLO.Consistency[i].PromQL; c != nil {
			if err := exp(fmt.Sprintf("spec.slo.consistency[%d].promql.expr", i), &c.Expr); err != nil {
				return err
			}
		}
	}
	return nil
}

// validateScoped checks a guard expression at path: its placeholders
// expand, it is PromQL, and (unless cluster) every series selector selects
// the target's namespace or pods.
func validateScoped(e *errs, sc Scope, path, expr string, scope RuleScope) {
	x, err := sc.ExpandScope(expr)
	if err != nil {
		e.add(path, "%v", err)
		return
	}
	x = strings.ReplaceAll(x, "{{.Revision}}", "rev")
	if strings.TrimSpace(x) == "" {
		e.required(path)
		return
	}
	bad, err := Unscoped(x)
	if err != nil {
		e.add(path, "invalid PromQL: %v", err)
		return
	}
	if len(bad) > 0 && scope != ScopeCluster {
		e.add(path, "%s reads every workload's series: select the target with namespace/pod matchers or the placeholder {{.Scope}} (e.g. %s{ {{.Scope}} }), or say scope: cluster", strings.Join(bad, ", "), metricName(bad[0]))
	}
}

func metricName(sel string) string {
	if i := strings.IndexByte(sel, '{'); i >= 0 {
		return sel[:i]
	}
	return sel
}

func validateTargetMetrics(e *errs, m *TargetMetrics) {
	const p = "spec.target.metrics"
	switch m.Convention {
	case "", ConventionPrometheus, ConventionMicrometer, ConventionOpenTelemetry, ConventionGRPC:
	default:
		e.enum(p+".convention", m.Convention, "prometheus", "micrometer", "opentelemetry", "grpc")
	}
	if m.Requests != "" && !metricNameRe.MatchString(m.Requests) {
		e.add(p+".requests", "invalid metric name %q", m.Requests)
	}
	if m.StatusLabel != "" && !labelNameRe.MatchString(m.StatusLabel) {
		e.add(p+".statusLabel", "invalid label name %q", m.StatusLabel)
	}
	if m.Latency != "" && (!metricNameRe.MatchString(m.Latency) || !strings.HasSuffix(m.Latency, "_bucket")) {
		e.add(p+".latency", "want a histogram's bucket series (a metric name ending in _bucket), got %q", m.Latency)
	}
}

var (
	metricNameRe = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)
	labelNameRe  = regexp.MustCompile(`^[a-zA-Z_][a-zA-Z0-9_]*$`)
)

// validateGuardScope checks the guard's expressions with their
// placeholders expanded: rules (scoped unless scope: cluster), the
// request-rate expression (scoped) and the statistical expressions (which
// select one revision through {{.Revision}}, so they are parsed only).
func validateGuardScope(e *errs, sc Scope, g *Guard) {
	for i, r := range g.Rules {
		p := fmt.Sprintf("spec.guard.rules[%d]", i)
		switch r.Scope {
		case "", ScopeTarget, ScopeCluster:
		default:
			e.enum(p+".scope", r.Scope, "target", "cluster")
		}
		validateScoped(e, sc, p+".expr", r.Expr, r.Scope)
		if x, err := sc.ExpandScope(r.Expr); err == nil {
			validateInstantType(e, p+".expr", x)
		}
	}
	if g.RequestRateExpr != "" {
		validateScoped(e, sc, "spec.guard.requestRateExpr", g.RequestRateExpr, ScopeTarget)
	}
	if st := g.Statistical; st != nil {
		for name, expr := range map[string]string{"errorsExpr": st.ErrorsExpr, "totalExpr": st.TotalExpr} {
			if expr != "" {
				validateScoped(e, sc, "spec.guard.statistical."+name, expr, ScopeCluster)
			}
		}
	}
}

// expandOrKeep expands expr's placeholders for validation; a bad
// placeholder is reported at path and expr is returned as it is.
func expandOrKeep(e *errs, sc Scope, path, expr string) string {
	x, err := sc.ExpandScope(expr)
	if err != nil {
		e.add(path, "%v", err)
		return expr
	}
	return x
}
