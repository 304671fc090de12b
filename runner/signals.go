package runner

import (
	"context"
	"fmt"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine/signals"
)

// runCopy returns a copy of d that one run may change without touching d
// (the scheduler runs the same drill again): the guard, its rules and
// statistical settings and the consistency checks are copied, and the
// scope placeholders are expanded.
func runCopy(d *drills.Drill) (*drills.Drill, error) {
	c := *d
	if g := d.Spec.Guard; g != nil {
		gc := *g
		gc.Rules = append([]drills.Rule(nil), g.Rules...)
		if g.Statistical != nil {
			st := *g.Statistical
			gc.Statistical = &st
		}
		c.Spec.Guard = &gc
	}
	c.Spec.SLO.Consistency = append([]drills.ConsistencyCheck(nil), d.Spec.SLO.Consistency...)
	for i := range c.Spec.SLO.Consistency {
		if p := c.Spec.SLO.Consistency[i].PromQL; p != nil {
			pc := *p
			c.Spec.SLO.Consistency[i].PromQL = &pc
		}
	}
	if err := c.ExpandScope(); err != nil {
		return nil, err
	}
	return &c, nil
}

// resolveSignals finds the target's request metrics (spec.target.metrics,
// detected from Prometheus for what it leaves out) and fills the guard's
// generated signals, scoped to the target's pods, once per run. An error
// wrapping signals.ErrNoMetrics means nothing was found (yet).
func (run *Run) resolveSignals(ctx context.Context) error {
	d := run.drill
	if run.signalsDone || !run.guard || run.prom == nil || !signals.Needed(d.Spec.Guard) {
		return nil
	}
	sc := drills.TargetScope(d.Spec.Target)
	m, err := signals.Detect(ctx, run.prom, sc, d.Spec.Target.Metrics, run.r.now())
	if err != nil {
		return err
	}
	run.signalsDone = true
	how := "from spec.target.metrics"
	if m.Found != "" {
		how = "detected"
	}
	run.event(drills.EventNote, run.r.now(), fmt.Sprintf("target metrics %s: %s", how, m),
		map[string]string{"convention": string(m.Convention), "requests": m.Requests, "statusLabel": m.StatusLabel, "latency": m.Latency})
	o := signals.Options{}
	if p := d.Spec.SLO.P99; p != nil {
		o.P99 = p.Duration
	}
	for _, s := range signals.Apply(d.Spec.Guard, m, sc, o) {
		run.event(drills.EventNote, run.r.now(), "generated "+s, nil)
	}
	return nil
}
