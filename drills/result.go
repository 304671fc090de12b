package drills

import "time"

// ResultSchemaVersion is the version of the Result JSON format; it changes
// only when a field's meaning changes or one is removed.
const ResultSchemaVersion = "firedrill.dev/result/v1"

// Verdict is the outcome of a drill, a phase or a check.
type Verdict string

// Verdicts. Inconclusive means the drill could not judge (for example the
// baseline SLOs did not hold before any fault); Error means it could not run.
const (
	VerdictPassed       Verdict = "passed"
	VerdictFailed       Verdict = "failed"
	VerdictInconclusive Verdict = "inconclusive"
	VerdictSkipped      Verdict = "skipped"
	VerdictError        Verdict = "error"
)

// Result is everything a drill run measured. The runner fills it and the
// reports read it; it holds only plain data.
type Result struct {
	// SchemaVersion is ResultSchemaVersion.
	SchemaVersion string `json:"schemaVersion"`
	// Drill is the drill's name.
	Drill string `json:"drill"`
	// Source is the drill file.
	Source string `json:"source,omitempty"`
	// RunID identifies the run.
	RunID string `json:"runID"`
	// Labels are the drill's labels.
	Labels map[string]string `json:"labels,omitempty"`
	// Started and Finished bound the run.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished"`
	// Verdict is the overall outcome.
	Verdict Verdict `json:"verdict"`
	// Reason explains a verdict other than passed.
	Reason string `json:"reason,omitempty"`
	// GuardEnabled tells whether the engine guarded the target.
	GuardEnabled bool `json:"guardEnabled"`
	// MTTD is fault injected → first detection; nil if nothing was detected.
	MTTD *Duration `json:"mttd,omitempty"`
	// MTTR is fault injected → SLOs restored and stable; nil if the target
	// did not recover.
	MTTR *Duration `json:"mttr,omitempty"`
	// Phases in the order they ran.
	Phases []PhaseResult `json:"phases"`
	// Checks are the SLO, consistency, proof-of-effect, expectation and
	// guard-coverage verdicts.
	Checks []Check `json:"checks"`
	// Timeline is the 1 s time series seen during the run.
	Timeline []Sample `json:"timeline,omitempty"`
	// Events are the notable moments: fault injected, proof, detection,
	// decision, action, recovery.
	Events []Event `json:"events,omitempty"`
	// Audit are the engine's audit rows written during the run.
	Audit []AuditRecord `json:"audit,omitempty"`
	// GuardCoverage is, per signal unit of the engine, what it really saw:
	// how often it evaluated, held or fired before and after the fault.
	// Empty when the engine did not guard the run.
	GuardCoverage []SignalCoverage `json:"guardCoverage,omitempty"`
}

// PhaseResult is the outcome of one phase.
type PhaseResult struct {
	Name     string    `json:"name"`
	Started  time.Time `json:"started"`
	Duration Duration  `json:"duration"`
	Verdict  Verdict   `json:"verdict"`
	Message  string    `json:"message,omitempty"`
}

// CheckKind groups checks in reports.
type CheckKind string

// Check kinds.
const (
	CheckSLO         CheckKind = "slo"
	CheckConsistency CheckKind = "consistency"
	CheckProof       CheckKind = "proof-of-effect"
	CheckExpect      CheckKind = "expect"
	// CheckCoverage judges whether a signal unit of the engine really
	// evaluated during inject and observe (spec.guard.maxHold).
	CheckCoverage CheckKind = "guard-coverage"
)

// Check is one verdict with what was expected and what was seen.
type Check struct {
	Name     string    `json:"name"`
	Kind     CheckKind `json:"kind"`
	Expected string    `json:"expected"`
	Observed string    `json:"observed"`
	Verdict  Verdict   `json:"verdict"`
	Message  string    `json:"message,omitempty"`
}

// SampleSource says who measured a sample.
type SampleSource string

// Sample sources: the traffic generator's own client-side counts, and
// Prometheus.
const (
	SourceTraffic    SampleSource = "traffic"
	SourcePrometheus SampleSource = "prometheus"
)

// Sample is one point of the timeline.
type Sample struct {
	Time       time.Time    `json:"time"`
	Source     SampleSource `json:"source"`
	Throughput float64      `json:"throughput"`
	ErrorRate  float64      `json:"errorRate"`
	// P99 is in seconds.
	P99 float64 `json:"p99"`
}

// EventKind is the kind of a timeline event.
type EventKind string

// Event kinds.
const (
	EventPhase     EventKind = "phase"
	EventFault     EventKind = "fault-injected"
	EventProof     EventKind = "proof-of-effect"
	EventDetection EventKind = "detection"
	EventDecision  EventKind = "decision"
	EventAction    EventKind = "action"
	EventRecovery  EventKind = "recovery"
	EventFaultGone EventKind = "fault-removed"
	EventNote      EventKind = "note"
)

// Event is a notable moment in a run.
type Event struct {
	Time       time.Time         `json:"time"`
	Kind       EventKind         `json:"kind"`
	Message    string            `json:"message"`
	Attributes map[string]string `json:"attributes,omitempty"`
}

// AuditRecord is one row of the engine's rollback_audit table.
type AuditRecord struct {
	RollbackID  string     `json:"rollbackID"`
	ServiceName string     `json:"serviceName"`
	FromVersion string     `json:"fromVersion"`
	ToVersion   string     `json:"toVersion"`
	TriggerTime time.Time  `json:"triggerTime"`
	StartTime   time.Time  `json:"startTime"`
	EndTime     *time.Time `json:"endTime,omitempty"`
	Success     bool       `json:"success"`
	Decision    string     `json:"decision"`
	Score       float64    `json:"score"`
	Strategy    string     `json:"strategy"`
	Reason      string     `json:"reason"`
}

// Coverage phase buckets: the evaluations a SignalCoverage counts are
// grouped by the phase the runner was in.
const (
	// CoverageBaseline counts the evaluations of the baseline phase,
	// before any fault.
	CoverageBaseline = "baseline"
	// CoverageFault counts the evaluations of the inject and observe
	// phases, while the fault is in and its effect is watched.
	CoverageFault = "inject+observe"
)

// UnitState is what one evaluation of a signal unit amounted to.
type UnitState string

// Unit states.
const (
	// UnitClear: the unit evaluated and saw nothing wrong.
	UnitClear UnitState = "clear"
	// UnitFiring: the unit evaluated and fired (evidence of an anomaly).
	UnitFiring UnitState = "firing"
	// UnitHeld: the unit could not judge (no data, stale data, low
	// traffic, query errors): it neither passed nor failed.
	UnitHeld UnitState = "held"
)

// SignalCoverage is what one signal unit of the engine saw during a run.
// A unit is one PromQL rule ("rule <name>"), the Kubernetes signals
// ("kubernetes"), the statistical test ("sequential") or another signal by
// its name.
type SignalCoverage struct {
	// Unit names the signal unit, e.g. "rule HighErrorRate".
	Unit string `json:"unit"`
	// Phases are the counts per phase bucket (CoverageBaseline,
	// CoverageFault), in that order, for the buckets the unit was
	// evaluated in.
	Phases []PhaseCoverage `json:"phases,omitempty"`
	// Runs are the unit's consecutive evaluations in the same state over
	// the whole run, oldest first, for the report's strip.
	Runs []StateRun `json:"runs,omitempty"`
	// RunsTruncated tells that Runs hit its size cap and stops early.
	RunsTruncated bool `json:"runsTruncated,omitempty"`
}

// Phase returns the counts of the phase bucket name (zero if the unit was
// never evaluated in it).
func (c SignalCoverage) Phase(name string) PhaseCoverage {
	for _, p := range c.Phases {
		if p.Phase == name {
			return p
		}
	}
	return PhaseCoverage{Phase: name}
}

// PhaseCoverage counts a signal unit's evaluations in one phase bucket.
type PhaseCoverage struct {
	// Phase is the bucket: CoverageBaseline or CoverageFault.
	Phase string `json:"phase"`
	// Evaluations is how many times the unit was evaluated, held ones
	// included.
	Evaluations int `json:"evaluations"`
	// Held is how many of them were on hold.
	Held int `json:"held"`
	// Firing is how many of them fired.
	Firing int `json:"firing"`
	// HoldReasons are the most frequent reasons for holding, most
	// frequent first (at most five).
	HoldReasons []HoldReason `json:"holdReasons,omitempty"`
	// FirstEvaluated and LastEvaluated bound the real (not held)
	// evaluations; nil when there was none.
	FirstEvaluated *time.Time `json:"firstEvaluated,omitempty"`
	LastEvaluated  *time.Time `json:"lastEvaluated,omitempty"`
}

// Real is how many evaluations really judged (clear or firing).
func (p PhaseCoverage) Real() int { return p.Evaluations - p.Held }

// HeldFraction is Held / Evaluations (0 without evaluations).
func (p PhaseCoverage) HeldFraction() float64 {
	if p.Evaluations == 0 {
		return 0
	}
	return float64(p.Held) / float64(p.Evaluations)
}

// TopHoldReason is the most frequent hold reason ("" when none).
func (p PhaseCoverage) TopHoldReason() string {
	if len(p.HoldReasons) == 0 {
		return ""
	}
	return p.HoldReasons[0].Reason
}

// HoldReason is one reason a unit held and how often.
type HoldReason struct {
	// Reason is why the unit could not judge, e.g. "no data".
	Reason string `json:"reason"`
	// Count is how many evaluations held for it.
	Count int `json:"count"`
}

// StateRun is a stretch of consecutive evaluations of one unit in the same
// state.
type StateRun struct {
	// Start is the first evaluation in the state; End the evaluation that
	// ended it (the next state's first), or the last one seen.
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// State of the unit over the stretch.
	State UnitState `json:"state"`
}
