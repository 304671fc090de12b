package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

func TestRuleMemory(t *testing.T) {
	for _, c := range []struct {
		expr string
		for_ time.Duration
		want time.Duration
	}{
		{`sum(rate(http_requests_total{code=~"5.."}[15s])) / sum(rate(http_requests_total[15s]))`, 3 * time.Second, 18 * time.Second},
		{`histogram_quantile(0.99, sum by (le) (rate(b[15s]))) or max(rate(c[1m]))`, 5 * time.Second, 65 * time.Second},
		{`max_over_time(rate(x[5s])[30s:1s] offset 10s)`, 0, 40 * time.Second},
		{`up == 0`, 2 * time.Second, 2 * time.Second},
		{`not promql (`, 4 * time.Second, 4 * time.Second},
	} {
		require.Equal(t, c.want, ruleMemory(drills.Rule{Expr: c.expr, For: drills.D(c.for_)}), c.expr)
	}
}

func TestSettleWindow(t *testing.T) {
	g := drills.Guard{Rules: []drills.Rule{
		{Expr: `rate(a[15s]) > 0`, For: drills.D(3 * time.Second)},
		{Expr: `rate(b[10s]) > 0`, For: drills.D(5 * time.Second)},
	}}
	require.Equal(t, 18*time.Second, settleWindow(g, 15*time.Second), "the rule remembers longer than the verify window")
	require.Equal(t, 30*time.Second, settleWindow(g, 30*time.Second), "never shorter than the verify window")
	require.Equal(t, 15*time.Second, settleWindow(drills.Guard{}, 15*time.Second))
}
