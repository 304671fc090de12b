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
	// Checks are the SLO, consistency, proof-of-effect and expectation
	// verdicts.
	Checks []Check `json:"checks"`
	// Timeline is the 1 s time series seen during the run.
	Timeline []Sample `json:"timeline,omitempty"`
	// Events are the notable moments: fault injected, proof, detection,
	// decision, action, recovery.
	Events []Event `json:"events,omitempty"`
	// Audit are the engine's audit rows written during the run.
	Audit []AuditRecord `json:"audit,omitempty"`
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
