package engine

import (
	"time"

	"github.com/prometheus/prometheus/promql/parser"

	"github.com/firedrill/firedrill/drills"
)

var promParser = parser.NewParser(parser.Options{})

// ruleMemory is how long a rule can keep firing on what happened before an
// action: the longest range (or subquery range plus offset) its expression
// reads plus its for window. A rule over rate(...[15s]) with for: 3s still
// sees a reverted release's errors for up to 18 s.
func ruleMemory(r drills.Rule) time.Duration {
	e, err := promParser.ParseExpr(r.Expr)
	if err != nil {
		return r.For.Get(0)
	}
	var longest time.Duration
	parser.Inspect(e, func(n parser.Node, _ []parser.Node) error {
		switch n := n.(type) {
		case *parser.MatrixSelector:
			longest = max(longest, n.Range)
		case *parser.SubqueryExpr:
			longest = max(longest, n.Range+n.OriginalOffset)
		}
		return nil
	})
	return longest + r.For.Get(0)
}

// settleWindow is how long the guard waits after an action before it
// judges it: the verify window, or longer when a rule remembers the time
// before the action for longer, so that evidence from a release already
// rolled back does not escalate to the next strategy.
func settleWindow(policy drills.Guard, verify time.Duration) time.Duration {
	w := verify
	for _, r := range policy.Rules {
		w = max(w, ruleMemory(r))
	}
	return w
}
