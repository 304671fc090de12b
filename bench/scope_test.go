package bench

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

func TestScopeExpr(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`(sum(rate(http_requests_total{code=~"5.."}[15s])) or vector(0)) / sum(rate(http_requests_total[15s]))`,
			`(sum(rate(http_requests_total{app="payment",code=~"5.."}[15s])) or vector(0)) / sum(rate(http_requests_total{app="payment"}[15s]))`},
		{`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[15s])))`,
			`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{app="payment"}[15s])))`},
		{`max(ledger_balance_mismatch)`, `max(ledger_balance_mismatch{app="payment"})`},
		{`sum(up{app="other"})`, `sum(up{app="other"})`},
	} {
		got, err := ScopeExpr(tc.in, "app", "payment")
		require.NoError(t, err)
		require.Equal(t, tc.want, got)
	}
	_, err := ScopeExpr(`sum(`, "app", "payment")
	require.Error(t, err)
}

func TestScopeGuard(t *testing.T) {
	d := &drills.Drill{Spec: drills.Spec{Guard: &drills.Guard{Rules: []drills.Rule{{Name: "r", Expr: `max(x)`}}}}}
	opt, err := ScopeGuard(d, "payment-soak")
	require.NoError(t, err)
	require.NotNil(t, opt)
	require.Equal(t, `max(x{app="payment-soak"})`, d.Spec.Guard.Rules[0].Expr)
	// Placeholders are expanded before the app matcher is added.
	d = &drills.Drill{Spec: drills.Spec{Target: drills.Target{Namespace: "demo", Name: "payment"},
		Guard: &drills.Guard{Rules: []drills.Rule{{Name: "r", Expr: `max(x{ {{.Scope}} })`}}}}}
	_, err = ScopeGuard(d, "payment")
	require.NoError(t, err)
	require.Equal(t, `max(x{app="payment",namespace="demo",pod=~"payment-[a-z0-9]{1,10}-[a-z0-9]{5}"})`, d.Spec.Guard.Rules[0].Expr)
	_, err = ScopeGuard(&drills.Drill{}, "x")
	require.NoError(t, err, "no guard, nothing to scope")
}
