package runner

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
)

func units(states ...engine.UnitReport) []engine.UnitReport { return states }

func TestCoverageAccumulatesPerPhase(t *testing.T) {
	c := newCoverage()
	t0 := time.Date(2026, 12, 7, 3, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	clear := engine.UnitReport{Name: "rule A", State: engine.UnitClear}
	kube := engine.UnitReport{Name: "kubernetes", State: engine.UnitClear}
	held := func(why string) engine.UnitReport {
		return engine.UnitReport{Name: "rule A", State: engine.UnitHeld, Reason: why}
	}

	ok, why := c.ready(2)
	require.False(t, ok)
	require.Empty(t, why, "nothing evaluated yet")

	c.observe(at(0), phaseBaseline, units(clear, kube))
	ok, why = c.ready(2)
	require.False(t, ok)
	require.Equal(t, "rule A: evaluated 1 of 2 times; kubernetes: evaluated 1 of 2 times", why)
	c.observe(at(1), phaseBaseline, units(held("no data"), kube))
	ok, why = c.ready(2)
	require.False(t, ok)
	require.Equal(t, "rule A: no data", why)
	c.observe(at(2), phaseBaseline, units(clear, kube))
	ok, _ = c.ready(2)
	require.True(t, ok)

	c.observe(at(3), phaseInject, units(held("stale data: newest sample is 12.5s old"), kube))
	c.observe(at(4), phaseObserve, units(held("stale data: newest sample is 13.5s old"), kube))
	c.observe(at(5), phaseObserve, units(engine.UnitReport{Name: "rule A", State: engine.UnitFiring}, kube))
	c.observe(at(6), phaseObserve, units(held("no data"), kube))
	c.observe(at(7), phaseVerify, units(clear, kube)) // not in a bucket, but on the strip

	cov := c.result()
	require.Len(t, cov, 2)
	a := cov[0]
	require.Equal(t, "rule A", a.Unit)
	base := a.Phase(drills.CoverageBaseline)
	require.Equal(t, 3, base.Evaluations)
	require.Equal(t, 1, base.Held)
	require.Equal(t, []drills.HoldReason{{Reason: "no data", Count: 1}}, base.HoldReasons)
	require.Equal(t, at(0), *base.FirstEvaluated)
	require.Equal(t, at(2), *base.LastEvaluated)

	fault := a.Phase(drills.CoverageFault)
	require.Equal(t, 4, fault.Evaluations)
	require.Equal(t, 3, fault.Held)
	require.Equal(t, 1, fault.Firing)
	require.Equal(t, []drills.HoldReason{
		{Reason: "stale data: newest sample is 13.5s old", Count: 2}, // one reason, its latest wording
		{Reason: "no data", Count: 1},
	}, fault.HoldReasons)
	require.Equal(t, at(5), *fault.FirstEvaluated)
	require.Equal(t, at(5), *fault.LastEvaluated)

	require.Equal(t, []drills.StateRun{
		{Start: at(0), End: at(1), State: drills.UnitClear},
		{Start: at(1), End: at(2), State: drills.UnitHeld},
		{Start: at(2), End: at(3), State: drills.UnitClear},
		{Start: at(3), End: at(5), State: drills.UnitHeld},
		{Start: at(5), End: at(6), State: drills.UnitFiring},
		{Start: at(6), End: at(7), State: drills.UnitHeld},
		{Start: at(7), End: at(7), State: drills.UnitClear},
	}, a.Runs)
	require.Equal(t, []drills.StateRun{{Start: at(0), End: at(7), State: drills.UnitClear}}, cov[1].Runs)
	require.Equal(t, 4, cov[1].Phase(drills.CoverageFault).Evaluations)
	require.Zero(t, cov[1].Phase(drills.CoverageFault).Held)
}

func TestCoverageBounds(t *testing.T) {
	c := newCoverage()
	t0 := time.Now()
	for i := range 3 * maxStateRuns {
		u := engine.UnitReport{Name: "flappy", State: engine.UnitClear}
		if i%2 == 1 {
			u = engine.UnitReport{Name: "flappy", State: engine.UnitHeld, Reason: "reason " + string(rune('a'+i%26)) + string(rune('a'+i/26%26))}
		}
		c.observe(t0.Add(time.Duration(i)*time.Second), phaseObserve, units(u))
	}
	cov := c.result()
	require.Len(t, cov[0].Runs, maxStateRuns)
	require.True(t, cov[0].RunsTruncated)
	p := cov[0].Phase(drills.CoverageFault)
	require.Equal(t, 3*maxStateRuns, p.Evaluations)
	require.Len(t, p.HoldReasons, topHoldReasons)
	total := 0
	for _, r := range c.units[0].buckets[drills.CoverageFault].reasons.top(1000) {
		total += r.Count
	}
	require.Equal(t, p.Held, total, "reasons beyond the cap are still counted")
	require.LessOrEqual(t, len(c.units[0].buckets[drills.CoverageFault].reasons.keys), maxReasonKeys+1)
}

func TestJudgeCoverage(t *testing.T) {
	fault := func(evals, held int, reasons ...drills.HoldReason) []drills.PhaseCoverage {
		return []drills.PhaseCoverage{
			{Phase: drills.CoverageBaseline, Evaluations: 5},
			{Phase: drills.CoverageFault, Evaluations: evals, Held: held, HoldReasons: reasons},
		}
	}
	for _, tc := range []struct {
		name     string
		cov      []drills.SignalCoverage
		maxHold  float64
		blind    string
		verdicts []drills.Verdict
	}{
		{
			name:     "all evaluated",
			cov:      []drills.SignalCoverage{{Unit: "rule A", Phases: fault(57, 0)}, {Unit: "kubernetes", Phases: fault(57, 11, drills.HoldReason{Reason: "x", Count: 11})}},
			maxHold:  0.2,
			verdicts: []drills.Verdict{drills.VerdictPassed, drills.VerdictPassed},
		},
		{
			name:     "held all the time",
			cov:      []drills.SignalCoverage{{Unit: "rule ErrorRateHigh", Phases: fault(57, 57, drills.HoldReason{Reason: "no data", Count: 57})}, {Unit: "kubernetes", Phases: fault(57, 0)}},
			maxHold:  0.2,
			blind:    "guard blind: rule ErrorRateHigh held 100% of 57 evaluations during inject+observe (no data)",
			verdicts: []drills.Verdict{drills.VerdictInconclusive, drills.VerdictPassed},
		},
		{
			name:     "held just over maxHold",
			cov:      []drills.SignalCoverage{{Unit: "sequential", Phases: fault(40, 9, drills.HoldReason{Reason: "low traffic", Count: 9})}},
			maxHold:  0.2,
			blind:    "guard blind: sequential held 22.5% of 40 evaluations during inject+observe (low traffic)",
			verdicts: []drills.Verdict{drills.VerdictInconclusive},
		},
		{
			name:     "held exactly maxHold",
			cov:      []drills.SignalCoverage{{Unit: "sequential", Phases: fault(40, 8)}},
			maxHold:  0.2,
			verdicts: []drills.Verdict{drills.VerdictPassed},
		},
		{
			name:     "maxHold 1 still needs a real evaluation",
			cov:      []drills.SignalCoverage{{Unit: "rule A", Phases: fault(3, 3, drills.HoldReason{Reason: "no data", Count: 3})}},
			maxHold:  1,
			blind:    "guard blind: rule A held 100% of 3 evaluations during inject+observe (no data)",
			verdicts: []drills.Verdict{drills.VerdictInconclusive},
		},
		{
			name:     "never evaluated during the fault",
			cov:      []drills.SignalCoverage{{Unit: "rule A", Phases: fault(0, 0)[:1]}, {Unit: "rule B", Phases: fault(0, 0)[:1]}},
			maxHold:  0.2,
			blind:    "guard blind: rule A was never evaluated during inject+observe; rule B was never evaluated during inject+observe",
			verdicts: []drills.Verdict{drills.VerdictInconclusive, drills.VerdictInconclusive},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checks, blind := judgeCoverage(tc.cov, tc.maxHold)
			require.Equal(t, tc.blind, blind)
			require.Len(t, checks, len(tc.verdicts))
			for i, c := range checks {
				require.Equal(t, drills.CheckCoverage, c.Kind)
				require.Equal(t, "guard coverage: "+tc.cov[i].Unit, c.Name)
				require.Equal(t, tc.verdicts[i], c.Verdict, c.Observed)
			}
		})
	}
}

func TestRunJudgeCoverageOverridesPassedAndFailedOnly(t *testing.T) {
	blindCov := func() *coverage {
		c := newCoverage()
		now := time.Now()
		for i := range 4 {
			c.observe(now.Add(time.Duration(i)*time.Second), phaseBaseline, units(engine.UnitReport{Name: "rule A", State: engine.UnitClear}))
		}
		for i := range 10 {
			c.observe(now.Add(time.Duration(10+i)*time.Second), phaseObserve, units(engine.UnitReport{Name: "rule A", State: engine.UnitHeld, Reason: "no data"}))
		}
		return c
	}
	const blind = "guard blind: rule A held 100% of 10 evaluations during inject+observe (no data)"
	for _, tc := range []struct {
		name              string
		verdict           drills.Verdict
		reason            string
		failure           error
		wantVerdict       drills.Verdict
		wantReason        string
		wantCoverageCheck bool
	}{
		{"passed", drills.VerdictPassed, "", nil, drills.VerdictInconclusive, blind, true},
		{"failed", drills.VerdictFailed, "check failed: rollback", errVerdictFailed, drills.VerdictInconclusive, blind + "; otherwise check failed: rollback", true},
		{"error", drills.VerdictError, "boom", errors.New("boom"), drills.VerdictError, "boom", false},
		{"inconclusive before", drills.VerdictInconclusive, "fault never took effect", inconclusive("fault never took effect"), drills.VerdictInconclusive, "fault never took effect", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &drills.Drill{Spec: drills.Spec{Guard: &drills.Guard{}}}
			run := &Run{drill: d, cov: blindCov(), res: &drills.Result{Verdict: tc.verdict, Reason: tc.reason}}
			run.judgeCoverage(tc.failure)
			require.Equal(t, tc.wantVerdict, run.res.Verdict)
			require.Equal(t, tc.wantReason, run.res.Reason)
			require.Len(t, run.res.GuardCoverage, 1, "coverage is recorded whatever the verdict")
			if tc.wantCoverageCheck {
				require.Len(t, run.res.Checks, 1)
				require.Equal(t, drills.VerdictInconclusive, run.res.Checks[0].Verdict)
			} else {
				require.Empty(t, run.res.Checks)
			}
		})
	}

	// maxHold from the drill: 100% held still needs a real evaluation, but
	// 30% held passes under maxHold 0.5.
	c := newCoverage()
	now := time.Now()
	for i := range 10 {
		u := engine.UnitReport{Name: "rule A", State: engine.UnitClear}
		if i < 3 {
			u = engine.UnitReport{Name: "rule A", State: engine.UnitHeld, Reason: "low traffic"}
		}
		c.observe(now.Add(time.Duration(i)*time.Second), phaseInject, units(u))
	}
	half := 0.5
	run := &Run{drill: &drills.Drill{Spec: drills.Spec{Guard: &drills.Guard{MaxHold: &half}}}, cov: c, res: &drills.Result{Verdict: drills.VerdictPassed}}
	run.judgeCoverage(nil)
	require.Equal(t, drills.VerdictPassed, run.res.Verdict, run.res.Reason)
	require.Equal(t, "held 30% of 10 evaluations (low traffic)", run.res.Checks[0].Observed)
}
