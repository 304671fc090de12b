package bench

import (
	"fmt"

	"github.com/prometheus/prometheus/model/labels"
	"github.com/prometheus/prometheus/promql/parser"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
)

var promParser = parser.NewParser(parser.Options{})

// ScopeExpr adds the matcher label="value" to every series selector of a
// PromQL expression that does not match on label already, so that the
// expression reads only the series of one workload.
func ScopeExpr(expr, label, value string) (string, error) {
	e, err := promParser.ParseExpr(expr)
	if err != nil {
		return "", fmt.Errorf("bench: scope %q: %w", expr, err)
	}
	m, err := labels.NewMatcher(labels.MatchEqual, label, value)
	if err != nil {
		return "", fmt.Errorf("bench: scope: %w", err)
	}
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for _, lm := range vs.LabelMatchers {
			if lm.Name == label {
				return nil
			}
		}
		vs.LabelMatchers = append(vs.LabelMatchers, m)
		return nil
	})
	return e.String(), nil
}

// ScopeGuard limits the guard's rules of d to the series whose label app
// is app: the benchmark runs other workloads (the healthy soak, the Argo
// Rollouts peer) on the same Prometheus at the same time, and the shipped
// rules sum over every series there. It returns the engine option that
// scopes the low-traffic guard's request-rate query the same way. Rules
// and statistical expressions the runner generates from the target's
// metrics select the target's namespace and pods already; this is for the
// rules a drill writes itself.
func ScopeGuard(d *drills.Drill, app string) (engine.Option, error) {
	// Scope placeholders first: ScopeExpr parses PromQL.
	if err := d.ExpandScope(); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	if g := d.Spec.Guard; g != nil {
		for i := range g.Rules {
			e, err := ScopeExpr(g.Rules[i].Expr, "app", app)
			if err != nil {
				return nil, err
			}
			g.Rules[i].Expr = e
		}
	}
	rate, err := ScopeExpr(engine.DefaultRequestRateExpr, "app", app)
	if err != nil {
		return nil, err
	}
	return engine.WithRequestRateExpr(rate), nil
}
