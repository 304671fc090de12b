package drills

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestTargetScope(t *testing.T) {
	sc := TargetScope(Target{Namespace: "shop", Name: "cart"})
	require.Equal(t, `namespace="shop",pod=~"cart-[a-z0-9]{1,10}-[a-z0-9]{5}"`, sc.Matchers())
	require.Equal(t, `namespace="shop",pod=~"cart-{{.Revision}}-[a-z0-9]{5}"`, sc.RevisionMatchers())
	re := regexp.MustCompile("^(?:" + sc.Pods + ")$") // PromQL anchors regexes
	for pod, want := range map[string]bool{
		"cart-7d9f8b6c4-x2k9q":     true,  // a Deployment's pod
		"cart-5c8d7b9f-abcde":      true,  // another revision
		"cart-api-7d9f8b6c4-x2k9q": false, // sibling Deployment cart-api
		"cart-0":                   false, // a StatefulSet's
		"mycart-7d9f8b6c4-x2k9q":   false,
	} {
		require.Equal(t, want, re.MatchString(pod), pod)
	}
	dotted := TargetScope(Target{Namespace: "n", Name: "a.b"})
	require.Equal(t, `a\.b-[a-z0-9]{1,10}-[a-z0-9]{5}`, dotted.Pods)
}

func TestExpandScope(t *testing.T) {
	sc := TargetScope(Target{Namespace: "shop", Name: "cart"})
	for in, want := range map[string]string{
		`max(x{ {{.Scope}} })`:                             `max(x{ namespace="shop",pod=~"cart-[a-z0-9]{1,10}-[a-z0-9]{5}" })`,
		`sum(y{code=~"5..", {{.Scope}}})`:                  `sum(y{code=~"5..", namespace="shop",pod=~"cart-[a-z0-9]{1,10}-[a-z0-9]{5}"})`,
		`z{namespace="{{.Namespace}}",pod=~"{{.Pods}}"}`:   `z{namespace="shop",pod=~"cart-[a-z0-9]{1,10}-[a-z0-9]{5}"}`,
		`w{deployment="{{.Workload}}"}`:                    `w{deployment="cart"}`,
		`sum(v{ {{.Scope}}, hash="{{.Revision}}"})`:        `sum(v{ namespace="shop",pod=~"cart-[a-z0-9]{1,10}-[a-z0-9]{5}", hash="{{.Revision}}"})`,
		`max(ledger_balance_mismatch{namespace="shop"})`:   `max(ledger_balance_mismatch{namespace="shop"})`,
		`sum(rate(http_requests_total{path=~"/api"}[1m]))`: `sum(rate(http_requests_total{path=~"/api"}[1m]))`,
	} {
		got, err := sc.ExpandScope(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
		again, err := sc.ExpandScope(got)
		require.NoError(t, err)
		require.Equal(t, got, again, "idempotent")
	}
	_, err := sc.ExpandScope(`x{ {{.Nope}} }`)
	require.ErrorContains(t, err, "placeholders (want {{.Scope}}")
	_, err = sc.ExpandScope(`x{{{.Scope}}}`)
	require.ErrorContains(t, err, "placeholders:")
}

func TestUnscopedRuleRefused(t *testing.T) {
	const file = "testdata/invalid-unscoped-rule.yaml"
	data, err := os.ReadFile(file)
	require.NoError(t, err)
	_, err = Load(file, data)
	require.Error(t, err)
	require.Equal(t, map[string]int{
		"spec.guard.rules[1].expr":   15,
		"spec.guard.rules[3].expr":   22,
		"spec.guard.requestRateExpr": 24,
	}, errorLines(t, err))
	require.ErrorContains(t, err, file+`:15: spec.guard.rules[1].expr: http_requests_total reads every workload's series: select the target with namespace/pod matchers or the placeholder {{.Scope}} (e.g. http_requests_total{ {{.Scope}} }), or say scope: cluster`)
	require.ErrorContains(t, err, file+`:22: spec.guard.rules[3].expr: placeholders (want`)
}

func TestDrillExpandScope(t *testing.T) {
	d := &Drill{Spec: Spec{
		Target: Target{Namespace: "shop", Name: "cart"},
		Guard: &Guard{
			Rules:           []Rule{{Name: "r", Expr: `max(x{ {{.Scope}} })`}},
			RequestRateExpr: `sum(rate(y{ {{.Scope}} }[1m]))`,
			Statistical:     &Statistical{ErrorsExpr: `sum(e{pod=~"{{.Workload}}-{{.Revision}}-.*"})`},
		},
		SLO: SLO{Consistency: []ConsistencyCheck{{Name: "c", PromQL: &PromQLCheck{Expr: `max(z{ {{.Scope}} })`}}}},
	}}
	require.NoError(t, d.ExpandScope())
	m := TargetScope(d.Spec.Target).Matchers()
	require.Equal(t, `max(x{ `+m+` })`, d.Spec.Guard.Rules[0].Expr)
	require.Equal(t, `sum(rate(y{ `+m+` }[1m]))`, d.Spec.Guard.RequestRateExpr)
	require.Equal(t, `sum(e{pod=~"cart-{{.Revision}}-.*"})`, d.Spec.Guard.Statistical.ErrorsExpr)
	require.Equal(t, `max(z{ `+m+` })`, d.Spec.SLO.Consistency[0].PromQL.Expr)
	d.Spec.Guard.Rules[0].Expr = `{{.Nope}}`
	require.ErrorContains(t, d.ExpandScope(), "spec.guard.rules[0].expr: placeholders")
}

func TestTargetMetricsValidated(t *testing.T) {
	d := &Drill{APIVersion: APIVersion, Kind: KindDrill, Metadata: Metadata{Name: "t"}, Spec: Spec{
		Target: Target{Namespace: "n", Name: "w", Metrics: &TargetMetrics{Convention: "statsd", Requests: "a-b", StatusLabel: "1x", Latency: "lat_sum"}},
		Faults: []Fault{{Type: FaultPodKill}},
	}}
	d.Default()
	err := d.Validate()
	require.Error(t, err)
	lines := errorLines(t, err)
	for _, p := range []string{"spec.target.metrics.convention", "spec.target.metrics.requests", "spec.target.metrics.statusLabel", "spec.target.metrics.latency"} {
		require.Contains(t, lines, p)
	}
}
