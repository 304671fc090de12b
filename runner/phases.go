package runner

import (
	"context"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// Phase names, in the order they run.
const (
	phasePreflight = "preflight"
	phaseBaseline  = "baseline"
	phaseInject    = "inject"
	phaseObserve   = "observe"
	phaseVerify    = "verify"
	phaseTeardown  = "teardown"
)

// Phases lists the phase names in order.
func Phases() []string {
	return []string{phasePreflight, phaseBaseline, phaseInject, phaseObserve, phaseVerify, phaseTeardown}
}

// phase is one step of a run: Execute(ctx, *Run) with its own timeout.
type phase struct {
	name    string
	timeout func(d *drills.Drill) time.Duration
	exec    func(run *Run, ctx context.Context) error
}

func (r *Runner) phases() []phase {
	t := func(get func(*drills.Timeouts) *drills.Duration) func(*drills.Drill) time.Duration {
		return func(d *drills.Drill) time.Duration { return get(&d.Spec.Timeouts).Duration }
	}
	return []phase{
		{phasePreflight, t(func(t *drills.Timeouts) *drills.Duration { return t.Preflight }), (*Run).preflight},
		{phaseBaseline, t(func(t *drills.Timeouts) *drills.Duration { return t.Baseline }), (*Run).baseline},
		{phaseInject, t(func(t *drills.Timeouts) *drills.Duration { return t.Inject }), (*Run).inject},
		{phaseObserve, t(func(t *drills.Timeouts) *drills.Duration { return t.Observe }), (*Run).observe},
		{phaseVerify, t(func(t *drills.Timeouts) *drills.Duration { return t.Verify }), (*Run).verify},
		{phaseTeardown, t(func(t *drills.Timeouts) *drills.Duration { return t.Teardown }), (*Run).teardown},
	}
}
