package runner

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner/traffic"
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

	run.sloChecks(last)
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
		run.event(drills.EventNote, last.At, fmt.Sprintf("SLOs held for the %s stability window (since %s after the fault)", stab, mttr.Round(time.Millisecond)), nil)
	}
	var undecided []string
	for _, c := range run.res.Checks {
		switch c.Verdict {
		case drills.VerdictFailed:
			return fmt.Errorf("%w: %s", errVerdictFailed, c.Name)
		case drills.VerdictInconclusive:
			if c.Kind == drills.CheckSLO {
				undecided = append(undecided, fmt.Sprintf("%s: %s", c.Name, c.Observed))
			}
		}
	}
	if len(undecided) > 0 {
		return inconclusive("no evidence to judge %s", strings.Join(undecided, "; "))
	}
	return nil
}

// sloChecks records the error-rate and p99 checks, each judged on its own
// figure (see sloJudge).
func (run *Run) sloChecks(last healthPoint) {
	if run.gen == nil {
		return
	}
	j := sloJudge{slo: run.drill.Spec.SLO, health: &run.health, injected: run.injected, last: last, stats: run.windowStats}
	if j.slo.ErrorRate != nil {
		run.check(j.check(sloErrorRate))
	}
	if j.slo.P99 != nil {
		run.check(j.check(sloP99))
	}
}

// sloJudge judges the traffic SLOs at the end of verify. Each check is
// judged on its own figure: it passes when its SLO held over the stability
// window that ends at the last point (with requests in every SLO window of
// it), fails when it did not, and is inconclusive when the traffic brought
// no request to judge it by. A check that held since before the faults is
// judged from the injection on.
type sloJudge struct {
	slo      drills.SLO
	health   *healthTracker
	injected time.Time
	last     healthPoint
	stats    func(from, to time.Time) traffic.Snapshot
}

func (j sloJudge) check(k trafficSLO) drills.Check {
	stab := j.slo.Stability.Duration
	to := j.last.At
	v, s, window := drills.VerdictFailed, traffic.Snapshot{}, ""
	since, ok := j.health.healthySinceOf(k)
	if ok && since.Before(j.injected) {
		since = j.injected
	}
	switch {
	case ok && to.Sub(since) >= stab:
		s = j.stats(since, to)
		window = fmt.Sprintf("over %s", to.Sub(since).Round(time.Second))
		v = drills.VerdictPassed
		if s.Requests == 0 {
			v, window = drills.VerdictInconclusive, "no request finished "+window
		}
	default:
		// The worst of what was seen since the faults went in.
		s = j.stats(j.injected, to)
		if j.last.Requests == 0 || s.Requests == 0 {
			v, window = drills.VerdictInconclusive, fmt.Sprintf("no request finished in the last %s SLO window", j.slo.Window.Duration)
			break
		}
		held := "not held"
		if ok {
			held = fmt.Sprintf("held for %s only", to.Sub(since).Round(time.Second))
		}
		window = fmt.Sprintf("since the fault; %s, not for %s within the verify timeout (last: %s)", held, stab, j.last.whyOf(k, j.slo))
	}
	if k == sloErrorRate {
		if v == drills.VerdictPassed && s.ErrorRate > *j.slo.ErrorRate {
			v = drills.VerdictFailed
		}
		return drills.Check{Name: "slo error rate", Kind: drills.CheckSLO,
			Expected: fmt.Sprintf("≤ %.2f%% for %s", 100**j.slo.ErrorRate, stab),
			Observed: fmt.Sprintf("%.2f%% of %d requests %s", 100*s.ErrorRate, s.Requests, window), Verdict: v}
	}
	if v == drills.VerdictPassed && s.P99 > j.slo.P99.Duration {
		v = drills.VerdictFailed
	}
	return drills.Check{Name: "slo p99 latency", Kind: drills.CheckSLO,
		Expected: fmt.Sprintf("≤ %s for %s", j.slo.P99.Duration, stab),
		Observed: fmt.Sprintf("%s over %d requests %s", s.P99.Round(time.Millisecond), s.Requests, window), Verdict: v}
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
