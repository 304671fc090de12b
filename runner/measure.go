package runner

import (
	"fmt"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// measure sets MTTD and MTTR. MTTD is the first fault's injection to the
// engine's first detection, or, with the engine disabled, to the first SLO
// breach seen. MTTR is the injection to the start of the stable stretch
// verify accepted.
func (run *Run) measure() {
	if run.injected.IsZero() {
		return
	}
	res := run.res
	if run.guard {
		for _, e := range run.detections() {
			if !e.Time.Before(run.injected) {
				res.MTTD = &drills.Duration{Duration: e.Time.Sub(run.injected)}
				break
			}
		}
	} else if p, ok := run.health.firstBreachAfter(run.injected); ok {
		res.MTTD = &drills.Duration{Duration: p.breachAt().Sub(run.injected)}
	}
	if run.mttr != nil {
		res.MTTR = &drills.Duration{Duration: *run.mttr}
	}
}

// expectations turns the drill's expect block into checks.
func (run *Run) expectations() {
	ex := run.drill.Spec.Expect
	act, rolled := run.rolledBack()
	if ex.Rollback != nil {
		observed := "no rollback"
		if rolled {
			observed = fmt.Sprintf("rolled back with %s at +%s", act.Strategy, act.Time.Sub(run.injected).Round(time.Millisecond))
		} else if run.guard && len(run.actions()) > 0 {
			observed = fmt.Sprintf("no automatic rollback (%d engine actions, none rolled back)", len(run.actions()))
		} else if !run.guard {
			observed = "no rollback (the engine was disabled)"
		}
		run.expect("rollback", fmt.Sprintf("rollback = %t", *ex.Rollback), observed, rolled == *ex.Rollback)
	}
	if ex.Strategy != "" {
		got := "none"
		if rolled {
			got = string(act.Strategy)
		}
		run.expect("strategy", string(ex.Strategy), got, rolled && act.Strategy == ex.Strategy)
	}
	if ex.MTTD != nil {
		observed, ok := "no detection", false
		if run.res.MTTD != nil {
			observed, ok = run.res.MTTD.Duration.Round(time.Millisecond).String(), run.res.MTTD.Duration <= ex.MTTD.Duration
		}
		run.expect("mttd", "≤ "+ex.MTTD.Duration.String(), observed, ok)
	}
	if ex.MTTR != nil {
		observed, ok := "did not recover", false
		if run.res.MTTR != nil {
			observed, ok = run.res.MTTR.Duration.Round(time.Millisecond).String(), run.res.MTTR.Duration <= ex.MTTR.Duration
		}
		run.expect("mttr", "≤ "+ex.MTTR.Duration.String(), observed, ok)
	}
}

func (run *Run) expect(name, expected, observed string, ok bool) {
	v := drills.VerdictPassed
	if !ok {
		v = drills.VerdictFailed
	}
	run.check(drills.Check{Name: "expect " + name, Kind: drills.CheckExpect, Expected: expected, Observed: observed, Verdict: v})
}
