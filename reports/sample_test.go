package reports

import (
	"math"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// t0 is the fixed start of the sample runs, so outputs are deterministic.
var t0 = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

func at(sec float64) time.Time { return t0.Add(time.Duration(sec * float64(time.Second))) }

func phase(name string, start, dur float64, v drills.Verdict, msg string) drills.PhaseResult {
	return drills.PhaseResult{Name: name, Started: at(start), Duration: drills.Duration{Duration: time.Duration(dur * float64(time.Second))}, Verdict: v, Message: msg}
}

// sampleTimeline is a bad push at 30 s, detected at 36 s, rolled back at
// 38 s and recovered by 55 s, over 90 s.
func sampleTimeline(start time.Time) []drills.Sample {
	var out []drills.Sample
	for i := 0; i <= 90; i++ {
		sec := float64(i)
		errRate, p99, tput := 0.002, 0.045, 200.0
		switch {
		case sec >= 30 && sec < 40:
			errRate, p99, tput = 0.05+0.03*(sec-30), 0.3+0.05*(sec-30), 200-8*(sec-30)
		case sec >= 40 && sec < 55:
			f := (55 - sec) / 15
			errRate, p99, tput = 0.002+0.35*f, 0.045+0.6*f, 200-80*f
		}
		tput += 3 * math.Sin(sec/3)
		ts := start.Add(time.Duration(i) * time.Second)
		out = append(out, drills.Sample{Time: ts, Source: drills.SourceTraffic, Throughput: round3(tput), ErrorRate: round3(errRate), P99: round3(p99)})
		if i%5 == 0 {
			out = append(out, drills.Sample{Time: ts, Source: drills.SourcePrometheus, Throughput: round3(tput * 0.98), ErrorRate: round3(errRate * 0.9), P99: round3(p99 * 1.1)})
		}
	}
	return out
}

// sampleCoverage is the engine's coverage of the passed run: the rule held
// at the start and briefly around the rollback, fired from 36 s to 40 s;
// the Kubernetes signals were clear throughout.
func sampleCoverage() []drills.SignalCoverage {
	tp := func(sec float64) *time.Time { t := at(sec); return &t }
	return []drills.SignalCoverage{
		{
			Unit: "rule error-rate",
			Phases: []drills.PhaseCoverage{
				{Phase: drills.CoverageBaseline, Evaluations: 26, Held: 3, HoldReasons: []drills.HoldReason{{Reason: "no data", Count: 3}}, FirstEvaluated: tp(7), LastEvaluated: tp(29)},
				{Phase: drills.CoverageFault, Evaluations: 50, Held: 3, Firing: 4, HoldReasons: []drills.HoldReason{{Reason: "stale data: newest sample is 11.2s old (staleAfter 10s)", Count: 3}}, FirstEvaluated: tp(30), LastEvaluated: tp(80)},
			},
			Runs: []drills.StateRun{
				{Start: at(4), End: at(7), State: drills.UnitHeld},
				{Start: at(7), End: at(36), State: drills.UnitClear},
				{Start: at(36), End: at(40), State: drills.UnitFiring},
				{Start: at(40), End: at(43), State: drills.UnitHeld},
				{Start: at(43), End: at(90), State: drills.UnitClear},
			},
		},
		{
			Unit: "kubernetes",
			Phases: []drills.PhaseCoverage{
				{Phase: drills.CoverageBaseline, Evaluations: 26, FirstEvaluated: tp(4), LastEvaluated: tp(29)},
				{Phase: drills.CoverageFault, Evaluations: 50, FirstEvaluated: tp(30), LastEvaluated: tp(80)},
			},
			Runs: []drills.StateRun{{Start: at(4), End: at(90), State: drills.UnitClear}},
		},
	}
}

func round3(v float64) float64 { return math.Round(v*1000) / 1000 }

// sampleResults returns three runs: a guarded bad-image drill that passed,
// a bad-config drill that failed, and an unguarded drill that was
// inconclusive.
func sampleResults() []drills.Result {
	end := at(92)
	passed := drills.Result{
		SchemaVersion: drills.ResultSchemaVersion,
		Drill:         "bad-image-rollback",
		Source:        "drills/examples/bad-image.yaml",
		RunID:         "20260314-090000-a1",
		Labels:        map[string]string{"team": "payments", "tier": "critical"},
		Started:       t0,
		Finished:      at(95),
		Verdict:       drills.VerdictPassed,
		GuardEnabled:  true,
		MTTD:          drills.D(6200 * time.Millisecond),
		MTTR:          drills.D(25 * time.Second),
		Phases: []drills.PhaseResult{
			phase("preflight", 0, 2, drills.VerdictPassed, ""),
			phase("baseline", 2, 28, drills.VerdictPassed, "SLOs held for 28s"),
			phase("inject", 30, 0.5, drills.VerdictPassed, "pushed image payment:bad-500"),
			phase("observe", 30.5, 50, drills.VerdictPassed, ""),
			phase("verify", 80.5, 10, drills.VerdictPassed, ""),
			phase("teardown", 90.5, 4.5, drills.VerdictPassed, ""),
		},
		Checks: []drills.Check{
			{Name: "error rate", Kind: drills.CheckSLO, Expected: "< 1%", Observed: "0.2%", Verdict: drills.VerdictPassed},
			{Name: "p99 latency", Kind: drills.CheckSLO, Expected: "< 250ms", Observed: "45ms", Verdict: drills.VerdictPassed},
			{Name: "ledger balanced", Kind: drills.CheckConsistency, Expected: "sum(balances) = 1000000", Observed: "1000000", Verdict: drills.VerdictPassed},
			{Name: "fault took effect", Kind: drills.CheckProof, Expected: "error rate > 5% within 10s", Observed: "error rate 8% at +31s", Verdict: drills.VerdictPassed, Message: "pods payment-7c9 served HTTP 500"},
			{Name: "rolled back", Kind: drills.CheckExpect, Expected: "rollback within 60s", Observed: "rollback at +38s", Verdict: drills.VerdictPassed},
			{Name: "guard coverage: rule error-rate", Kind: drills.CheckCoverage, Expected: "evaluated during inject+observe, held at most 20% of the time", Observed: "held 6% of 50 evaluations (stale data)", Verdict: drills.VerdictPassed},
		},
		GuardCoverage: sampleCoverage(),
		Timeline:      sampleTimeline(t0),
		Events: []drills.Event{
			{Time: at(30), Kind: drills.EventFault, Message: "image set to payment:bad-500", Attributes: map[string]string{"fault": "bad-image", "target": "deployment/payment"}},
			{Time: at(31), Kind: drills.EventProof, Message: "error rate 8% (baseline 0.2%)", Attributes: map[string]string{"query": "rate(http_requests_total{code=~\"5..\"}[30s])"}},
			{Time: at(36.2), Kind: drills.EventDetection, Message: "rule error-rate fired: 23% > 5% for 5s"},
			{Time: at(37), Kind: drills.EventDecision, Message: "score 0.92 ≥ 0.8: roll back"},
			{Time: at(38), Kind: drills.EventAction, Message: "rollout undo deployment/payment to revision 4", Attributes: map[string]string{"strategy": "rollout-undo"}},
			{Time: at(55), Kind: drills.EventRecovery, Message: "SLOs restored and stable for 10s"},
			{Time: at(90.5), Kind: drills.EventFaultGone, Message: "fault removed"},
		},
		Audit: []drills.AuditRecord{{
			RollbackID: "rb-0001", ServiceName: "payment", FromVersion: "v2-bad", ToVersion: "v1",
			TriggerTime: at(37), StartTime: at(38), EndTime: &end, Success: true,
			Decision: "rollback", Score: 0.92, Strategy: "rollout-undo", Reason: "error rate 23% > 5% <script>alert(1)</script>",
		}},
	}
	failed := drills.Result{
		SchemaVersion: drills.ResultSchemaVersion,
		Drill:         "bad-config",
		RunID:         "20260314-091000-b2",
		Started:       t0.Add(10 * time.Minute),
		Finished:      t0.Add(12 * time.Minute),
		Verdict:       drills.VerdictFailed,
		Reason:        "the target did not recover within 90s",
		GuardEnabled:  true,
		MTTD:          drills.D(9 * time.Second),
		Phases: []drills.PhaseResult{
			phase("preflight", 600, 1, drills.VerdictPassed, ""),
			phase("observe", 601, 90, drills.VerdictFailed, "SLOs not restored"),
			phase("teardown", 691, 2, drills.VerdictPassed, ""),
		},
		Checks: []drills.Check{
			{Name: "error rate", Kind: drills.CheckSLO, Expected: "< 1%", Observed: "12.5%", Verdict: drills.VerdictFailed, Message: "still failing at the end of observe"},
			{Name: "ledger balanced", Kind: drills.CheckConsistency, Expected: "sum = 1000000", Observed: "999950 | 50 missing & <unreconciled>", Verdict: drills.VerdictFailed},
			{Name: "rollback strategy", Kind: drills.CheckExpect, Expected: "config-revert", Observed: "not attempted", Verdict: drills.VerdictError},
		},
	}
	inconclusive := drills.Result{
		SchemaVersion: drills.ResultSchemaVersion,
		Drill:         "network-partition",
		RunID:         "20260314-092000-c3",
		Started:       t0.Add(20 * time.Minute),
		Finished:      t0.Add(20*time.Minute + 40*time.Second),
		Verdict:       drills.VerdictInconclusive,
		Reason:        "baseline SLOs did not hold before any fault",
		Phases: []drills.PhaseResult{
			phase("baseline", 1200, 40, drills.VerdictInconclusive, "p99 320ms > 250ms before the fault"),
			phase("inject", 1240, 0, drills.VerdictSkipped, ""),
		},
	}
	return []drills.Result{passed, failed, inconclusive}
}
