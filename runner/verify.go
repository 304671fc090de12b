package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// verify waits for the SLOs to hold continuously for the stability window
// and records the SLO and consistency checks. MTTR is measured here: from
// the first fault's injection to the start of that stable stretch.
func (run *Run) verify(ctx context.Context) error {
	slo := run.drill.Spec.SLO
	stab := slo.Stability.Duration
	var last healthPoint
	var since time.Time
	stable := false
	for {
		if err := run.removeDue(ctx); err != nil {
			return err
		}
		last = run.evalHealth(ctx)
		if ctx.Err() != nil {
			break
		}
		run.health.add(last)
		var ok bool
		since, ok = run.health.healthySince()
		if ok && last.At.Sub(since) >= stab && !run.timedPending() {
			stable = true
			break
		}
		if err := run.sleep(ctx); err != nil {
			break
		}
	}
	if err := context.Cause(ctx); err != nil && err != context.DeadlineExceeded && !stable {
		return err
	}

	from, to := since, last.At
	if !stable {
		// The worst of what was seen since the faults went in.
		from = run.injected
	}
	run.sloChecks(from, to, stable, last)
	for _, c := range slo.Consistency {
		ok, observed, err := run.consistency(context.WithoutCancel(ctx), c)
		if err != nil {
			observed = err.Error()
		}
		v := drills.VerdictPassed
		if !ok {
			v = drills.VerdictFailed
		}
		run.check(drills.Check{Name: "consistency " + c.Name, Kind: drills.CheckConsistency,
			Expected: consistencyExpected(c), Observed: observed, Verdict: v})
	}
	if stable {
		mttr := since.Sub(run.injected)
		if mttr < 0 {
			mttr = 0
		}
		run.mttr = &mttr
		run.event(drills.EventNote, to, fmt.Sprintf("SLOs held for the %s stability window (since %s after the fault)", stab, mttr.Round(time.Millisecond)), nil)
	}
	for _, c := range run.res.Checks {
		if c.Verdict == drills.VerdictFailed {
			return fmt.Errorf("%w: %s", errVerdictFailed, c.Name)
		}
	}
	return nil
}

// sloChecks records the error-rate and p99 checks over [from, to].
func (run *Run) sloChecks(from, to time.Time, stable bool, last healthPoint) {
	slo := run.drill.Spec.SLO
	if run.gen == nil {
		return
	}
	s := run.windowStats(from, to)
	window := fmt.Sprintf("over %s", to.Sub(from).Round(time.Second))
	if !stable {
		window = fmt.Sprintf("not held for %s within the verify timeout (last: %s)", slo.Stability.Duration, last.why())
	}
	if slo.ErrorRate != nil {
		v := drills.VerdictPassed
		if !stable || s.ErrorRate > *slo.ErrorRate {
			v = drills.VerdictFailed
		}
		run.check(drills.Check{Name: "slo error rate", Kind: drills.CheckSLO,
			Expected: fmt.Sprintf("≤ %.2f%% for %s", 100**slo.ErrorRate, slo.Stability.Duration),
			Observed: fmt.Sprintf("%.2f%% of %d requests %s", 100*s.ErrorRate, s.Requests, window), Verdict: v})
	}
	if slo.P99 != nil {
		v := drills.VerdictPassed
		if !stable || s.P99 > slo.P99.Duration {
			v = drills.VerdictFailed
		}
		run.check(drills.Check{Name: "slo p99 latency", Kind: drills.CheckSLO,
			Expected: fmt.Sprintf("≤ %s for %s", slo.P99.Duration, slo.Stability.Duration),
			Observed: fmt.Sprintf("%s %s", s.P99.Round(time.Millisecond), window), Verdict: v})
	}
}

func consistencyExpected(c drills.ConsistencyCheck) string {
	switch {
	case c.SQL != nil:
		return fmt.Sprintf("%s returns %s", c.SQL.Query, c.SQL.Expect)
	case c.PromQL != nil:
		op := c.PromQL.Op
		if op == "" {
			op = drills.OpEQ
		}
		return fmt.Sprintf("%s %s %g", c.PromQL.Expr, op, c.PromQL.Threshold)
	case c.HTTP != nil:
		st := c.HTTP.ExpectStatus
		if st == 0 {
			st = drills.DefaultHTTPExpectedStatus
		}
		return fmt.Sprintf("GET %s answers %d on every ready pod", c.HTTP.Path, st)
	}
	return ""
}
