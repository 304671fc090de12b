package bench

import (
	"fmt"
	"strings"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine/signals"
)

// SequentialGuard returns the guard policy and the target of the
// sequential part: of d's guard only its statistical block, its strategies
// and its interval (no rules, no Kubernetes signals, so that every
// detection is the sequential test's), guarding the workload w. The
// test's errors and total expressions are generated from m, the metrics
// engine/signals.Detect found for w's pods, and scoped to w's pods per
// revision (signals.Apply with w's scope), as firedrill run's preflight
// does for a drill's own target. It takes over d's guard settings: pass a
// drill loaded for it.
func SequentialGuard(d *drills.Drill, w NoisyWorkload, m signals.Metrics) (drills.Guard, drills.Target, error) {
	src := d.Spec.Guard
	if src == nil || src.Statistical == nil {
		return drills.Guard{}, drills.Target{}, fmt.Errorf("bench: drill %s has no statistical block", d.Metadata.Name)
	}
	st := *src.Statistical
	// Expressions the drill wrote would read the drill's own target.
	st.ErrorsExpr, st.TotalExpr = "", ""
	noRules := false
	g := drills.Guard{Interval: src.Interval, Statistical: &st, Strategies: src.Strategies, DefaultRules: &noRules}
	sd := drills.Drill{
		Metadata: drills.Metadata{Name: d.Metadata.Name + "-sequential"},
		Spec: drills.Spec{
			Target: drills.Target{Namespace: SoakNamespace, Name: w.Name, Service: w.Name, Port: 8080},
			Guard:  &g,
		},
	}
	sd.Default()
	signals.Apply(&g, m, drills.TargetScope(sd.Spec.Target), signals.Options{})
	if err := sd.ExpandScope(); err != nil {
		return drills.Guard{}, drills.Target{}, fmt.Errorf("bench: sequential guard: %w", err)
	}
	if len(g.Rules) > 0 || g.Kubernetes != nil {
		return drills.Guard{}, drills.Target{}, fmt.Errorf("bench: sequential guard: rules or Kubernetes signals left in the policy")
	}
	return g, sd.Spec.Target, nil
}

// RevisionQuery is a statistical expression with its {{.Revision}}
// placeholder filled with hash, as the engine's sequential test sends it
// to Prometheus.
func RevisionQuery(expr, hash string) string {
	return strings.ReplaceAll(expr, "{{.Revision}}", hash)
}
