package drills

// Guard is the rollback engine's policy for a target: how it detects a bad
// release, how it decides, and which strategies it may use.
type Guard struct {
	// Enabled turns the engine on (default true). A drill with the engine
	// disabled shows the counterfactual: what the fault does unguarded.
	Enabled *bool `json:"enabled,omitempty" yaml:"enabled,omitempty"`
	// Interval is how often rules are evaluated (default 1s).
	Interval *Duration `json:"interval,omitempty" yaml:"interval,omitempty"`
	// StaleAfter is how old the newest sample may be before a rule's data
	// counts as stale, which puts the rule in HOLD (default 10s).
	StaleAfter *Duration `json:"staleAfter,omitempty" yaml:"staleAfter,omitempty"`
	// MinRequestRate is the low-traffic guard: below this many requests per
	// second error-ratio rules HOLD instead of judging (default 1).
	MinRequestRate *float64 `json:"minRequestRate,omitempty" yaml:"minRequestRate,omitempty" jsonschema:"minimum=0"`
	// RequestRateExpr is the PromQL request rate (requests per second) the
	// low-traffic guard compares with MinRequestRate (default: generated
	// from the target's metrics, scoped to its pods). It may use the scope
	// placeholders ({{.Scope}}, {{.Namespace}}, {{.Pods}}, {{.Workload}}).
	RequestRateExpr string `json:"requestRateExpr,omitempty" yaml:"requestRateExpr,omitempty"`
	// DefaultRules adds the error-rate and latency rules generated from the
	// target's metrics (spec.target.metrics or detected), scoped to its
	// pods, to Rules (default: true when rules is left out, false when
	// the drill lists rules of its own).
	DefaultRules *bool `json:"defaultRules,omitempty" yaml:"defaultRules,omitempty"`
	// MaxHold is the largest fraction (0 to 1) of its evaluations during
	// inject and observe that any one signal unit (a rule, the Kubernetes
	// signals, the statistical test) may spend on HOLD (no data, stale
	// data, low traffic, query errors) before the drill is inconclusive:
	// a guard that could not see cannot prove anything (default 0.2). A
	// unit that never evaluated at all makes the drill inconclusive
	// whatever MaxHold says.
	MaxHold *float64 `json:"maxHold,omitempty" yaml:"maxHold,omitempty" jsonschema:"minimum=0,maximum=1"`
	// Rules are PromQL detection rules, as in the seed's alert rules.
	Rules []Rule `json:"rules,omitempty" yaml:"rules,omitempty"`
	// Kubernetes are signals read from the API server by watch.
	Kubernetes *KubernetesSignals `json:"kubernetes,omitempty" yaml:"kubernetes,omitempty"`
	// Statistical is a sequential test of the new revision's errors against
	// the previous revision's (or a baseline).
	Statistical *Statistical `json:"statistical,omitempty" yaml:"statistical,omitempty"`
	// Decision maps the rollback score to an action.
	Decision Decision `json:"decision,omitempty" yaml:"decision,omitempty"`
	// Strategies are the actions the engine may take, in order of
	// preference; if one does not restore the SLOs it escalates to the next.
	Strategies []Strategy `json:"strategies,omitempty" yaml:"strategies,omitempty"`
	// VerifyWindow is how long rules must stay clear after an action before
	// the recovery counts (default 15s). The engine escalates to the next
	// strategy no sooner than this after an action, nor sooner than the
	// longest range a rule's expression reads plus its for window (a rule
	// over rate(...[15s]) with for: 3s remembers a reverted release's
	// errors for up to 18 s).
	VerifyWindow *Duration `json:"verifyWindow,omitempty" yaml:"verifyWindow,omitempty"`
	// Cooldown is the minimum time between two actions (default 30s).
	Cooldown *Duration `json:"cooldown,omitempty" yaml:"cooldown,omitempty"`
	// MaxAttempts caps actions per incident before handing over to a human
	// (default 3).
	MaxAttempts int `json:"maxAttempts,omitempty" yaml:"maxAttempts,omitempty" jsonschema:"minimum=1"`
}

// Severity is how bad a firing rule is; it weighs the rollback score.
type Severity string

// Severities, as in the seed's alert rules.
const (
	SeverityWarning   Severity = "warning"
	SeverityCritical  Severity = "critical"
	SeverityEmergency Severity = "emergency"
)

// Op is a comparison between a query's value and a threshold.
type Op string

// Comparisons.
const (
	OpGT Op = ">"
	OpGE Op = ">="
	OpLT Op = "<"
	OpLE Op = "<="
	OpEQ Op = "=="
	OpNE Op = "!="
)

// Compare reports whether value op threshold holds.
func (o Op) Compare(value, threshold float64) bool {
	switch o {
	case OpGT:
		return value > threshold
	case OpGE:
		return value >= threshold
	case OpLT:
		return value < threshold
	case OpLE:
		return value <= threshold
	case OpEQ:
		return value == threshold
	case OpNE:
		return value != threshold
	}
	return false
}

// Rule is a detection rule: Expr compared with Threshold must hold for the
// whole For window before the rule fires.
type Rule struct {
	// Name of the rule, e.g. HighErrorRate.
	Name string `json:"name" yaml:"name" jsonschema:"minLength=1"`
	// Expr is a PromQL expression returning one value (or a vector whose
	// largest value is used).
	Expr string `json:"expr" yaml:"expr" jsonschema:"minLength=1"`
	// Op is the comparison (default ">").
	Op Op `json:"op,omitempty" yaml:"op,omitempty" jsonschema:"enum=>,enum=>=,enum=<,enum=<=,enum===,enum=!="`
	// Threshold the value is compared with.
	Threshold float64 `json:"threshold" yaml:"threshold"`
	// For is how long the comparison must hold before the rule fires
	// (default 0: fire on the first breach).
	For *Duration `json:"for,omitempty" yaml:"for,omitempty"`
	// Severity weighs the rollback score (default warning).
	Severity Severity `json:"severity,omitempty" yaml:"severity,omitempty" jsonschema:"enum=warning,enum=critical,enum=emergency"`
	// Scope is target (default: every series selector of Expr must select
	// the target's namespace or pods, by matcher or placeholder) or
	// cluster (the rule reads other workloads' series on purpose).
	Scope RuleScope `json:"scope,omitempty" yaml:"scope,omitempty" jsonschema:"enum=target,enum=cluster"`
}

// KubernetesSignals are workload signals read by watch.
type KubernetesSignals struct {
	// RolloutStalled fires when the Deployment's progress deadline is
	// exceeded.
	RolloutStalled bool `json:"rolloutStalled,omitempty" yaml:"rolloutStalled,omitempty"`
	// CrashLoop fires when a pod of the new revision is in CrashLoopBackOff.
	CrashLoop bool `json:"crashLoop,omitempty" yaml:"crashLoop,omitempty"`
	// ImagePull fires when a pod of the new revision is in ImagePullBackOff
	// or ErrImagePull.
	ImagePull bool `json:"imagePull,omitempty" yaml:"imagePull,omitempty"`
	// MinReadyRatio fires when ready/desired replicas stays below it for
	// the For window.
	MinReadyRatio *float64 `json:"minReadyRatio,omitempty" yaml:"minReadyRatio,omitempty" jsonschema:"minimum=0,maximum=1"`
	// For is how long a signal must persist before it fires (default 5s).
	For *Duration `json:"for,omitempty" yaml:"for,omitempty"`
	// Severity of these signals (default critical).
	Severity Severity `json:"severity,omitempty" yaml:"severity,omitempty" jsonschema:"enum=warning,enum=critical,enum=emergency"`
}

// StatisticalMethod is a sequential test.
type StatisticalMethod string

// Sequential tests.
const (
	MethodSPRT  StatisticalMethod = "sprt"
	MethodCUSUM StatisticalMethod = "cusum"
)

// Statistical configures the sequential test on error counts.
type Statistical struct {
	// Method is sprt (default) or cusum.
	Method StatisticalMethod `json:"method,omitempty" yaml:"method,omitempty" jsonschema:"enum=sprt,enum=cusum"`
	// ErrorsExpr is PromQL for the error count of a revision; the engine
	// substitutes {{.Revision}} (the pod template hash), and the scope
	// placeholders may be used (default: generated from the target's
	// metrics, selecting the revision's pods by name).
	ErrorsExpr string `json:"errorsExpr,omitempty" yaml:"errorsExpr,omitempty"`
	// TotalExpr is PromQL for the request count of a revision (default:
	// generated like ErrorsExpr).
	TotalExpr string `json:"totalExpr,omitempty" yaml:"totalExpr,omitempty"`
	// BaselineErrorRate is the error rate assumed when there is no previous
	// revision to compare with (default 0.005).
	BaselineErrorRate *float64 `json:"baselineErrorRate,omitempty" yaml:"baselineErrorRate,omitempty" jsonschema:"minimum=0,exclusiveMaximum=1"`
	// DetectErrorRate is the error rate the test must catch (default 0.05).
	DetectErrorRate *float64 `json:"detectErrorRate,omitempty" yaml:"detectErrorRate,omitempty" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1"`
	// FalseAlarmRate is the test's alpha (default 1e-6). The test watches
	// continuously, so alpha bounds false alarms per request watched: on
	// average at least 1/alpha requests pass between two false alarms
	// (1e-6 at 50 requests/s: more than five hours).
	FalseAlarmRate *float64 `json:"falseAlarmRate,omitempty" yaml:"falseAlarmRate,omitempty" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1"`
	// MissRate is the test's beta (default 0.01).
	MissRate *float64 `json:"missRate,omitempty" yaml:"missRate,omitempty" jsonschema:"exclusiveMinimum=0,exclusiveMaximum=1"`
	// MinRequests is the least number of requests before a verdict
	// (default 50).
	MinRequests int `json:"minRequests,omitempty" yaml:"minRequests,omitempty" jsonschema:"minimum=0"`
	// Severity of a detection (default critical).
	Severity Severity `json:"severity,omitempty" yaml:"severity,omitempty" jsonschema:"enum=warning,enum=critical,enum=emergency"`
}

// Decision holds the seed's thresholds on the rollback confidence.
type Decision struct {
	// RollbackAt: confidence at or above which the engine rolls back fully
	// (default 0.9).
	RollbackAt *float64 `json:"rollbackAt,omitempty" yaml:"rollbackAt,omitempty" jsonschema:"minimum=0,maximum=1"`
	// PartialAt: confidence at or above which the engine rolls back
	// partially (default 0.7); below it a human is asked.
	PartialAt *float64 `json:"partialAt,omitempty" yaml:"partialAt,omitempty" jsonschema:"minimum=0,maximum=1"`
	// PartialPercent is the share of traffic or replicas a partial rollback
	// moves back (default 50).
	PartialPercent int `json:"partialPercent,omitempty" yaml:"partialPercent,omitempty" jsonschema:"minimum=1,maximum=100"`
}

// StrategyName names a rollback strategy.
type StrategyName string

// Strategies, from the seed's strategy matrix.
const (
	StrategyRevert        StrategyName = "revert"
	StrategyTrafficSwitch StrategyName = "traffic-switch"
	StrategyShrink        StrategyName = "shrink"
	StrategyRestore       StrategyName = "restore"
	StrategyHuman         StrategyName = "human"
)

// ActsOnRollout tells whether the strategy can act on an Argo Rollouts
// Rollout target: revert (abort and undo), restore (its hooks do not touch
// the workload) and human (spec.paused). traffic-switch and shrink work on
// a Deployment's ReplicaSets.
func (n StrategyName) ActsOnRollout() bool {
	switch n {
	case StrategyRevert, StrategyRestore, StrategyHuman:
		return true
	}
	return false
}

// Strategy is one allowed action with its settings. Only the settings
// block that matches Name may be set.
type Strategy struct {
	// Name of the strategy.
	Name StrategyName `json:"name" yaml:"name" jsonschema:"enum=revert,enum=traffic-switch,enum=shrink,enum=restore,enum=human"`
	// Revert settings.
	Revert *RevertSettings `json:"revert,omitempty" yaml:"revert,omitempty"`
	// TrafficSwitch settings.
	TrafficSwitch *TrafficSwitchSettings `json:"trafficSwitch,omitempty" yaml:"trafficSwitch,omitempty"`
	// Shrink settings.
	Shrink *ShrinkSettings `json:"shrink,omitempty" yaml:"shrink,omitempty"`
	// Restore settings.
	Restore *RestoreSettings `json:"restore,omitempty" yaml:"restore,omitempty"`
	// Human settings.
	Human *HumanSettings `json:"human,omitempty" yaml:"human,omitempty"`
}

// RevertSettings configure the revert strategy (kubectl rollout undo).
type RevertSettings struct {
	// ToRevision is the revision to go back to; 0 (default) means the
	// previous one.
	ToRevision int64 `json:"toRevision,omitempty" yaml:"toRevision,omitempty" jsonschema:"minimum=0"`
	// Timeout for the rollout back to complete (default 2m).
	Timeout *Duration `json:"timeout,omitempty" yaml:"timeout,omitempty"`
	// Surge is the Deployment's maxSurge while it rolls back (a count such
	// as "3" or a percentage such as "100%"; default: the Deployment's
	// own). With
	// "100%" every pod of the previous revision starts at once, and the
	// bad release's pods leave as soon as they are ready, instead of one
	// pod at a time. The Deployment's own rolling-update settings are put
	// back when the rollout back completes (so it needs a timeout); a
	// Deployment with the Recreate strategy ignores it.
	Surge string `json:"surge,omitempty" yaml:"surge,omitempty" jsonschema:"pattern=^[1-9][0-9]*%?$"`
}

// TrafficSwitchSettings configure pointing the Service back at the stable
// track.
type TrafficSwitchSettings struct {
	// Service to switch (default: the target's Service).
	Service string `json:"service,omitempty" yaml:"service,omitempty"`
	// StableSelector is the Service selector of the stable track.
	StableSelector map[string]string `json:"stableSelector" yaml:"stableSelector" jsonschema:"minProperties=1"`
}

// ShrinkSettings configure the progressive shrink of the faulty ReplicaSet.
type ShrinkSettings struct {
	// Step is how many replicas are removed at a time (default 1).
	Step int `json:"step,omitempty" yaml:"step,omitempty" jsonschema:"minimum=1"`
	// Interval between steps (default 5s).
	Interval *Duration `json:"interval,omitempty" yaml:"interval,omitempty"`
	// QuarantineLabel is the label set on failing pods to take them out of
	// the Service's endpoints (default firedrill.dev/quarantine=true).
	QuarantineLabel string `json:"quarantineLabel,omitempty" yaml:"quarantineLabel,omitempty"`
}

// RestoreSettings configure a data snapshot restore.
type RestoreSettings struct {
	// DSN is the database connection (PostgreSQL URL); it may reference
	// environment variables as ${NAME} so secrets stay out of drill files.
	DSN string `json:"dsn,omitempty" yaml:"dsn,omitempty"`
	// SnapshotSQL is run before a risky change to take a snapshot.
	SnapshotSQL string `json:"snapshotSQL,omitempty" yaml:"snapshotSQL,omitempty"`
	// RestoreSQL is run to restore the snapshot.
	RestoreSQL string `json:"restoreSQL,omitempty" yaml:"restoreSQL,omitempty"`
	// VerifySQL must return one row with the value true after the restore.
	VerifySQL string `json:"verifySQL,omitempty" yaml:"verifySQL,omitempty"`
	// Job is the name of a Kubernetes Job template (in the target's
	// namespace) to run instead of SQL.
	Job string `json:"job,omitempty" yaml:"job,omitempty"`
}

// HumanSettings configure handing the incident to a human.
type HumanSettings struct {
	// WebhookURL receives a JSON notification. Only loopback and in-cluster
	// addresses are allowed in drills run here.
	WebhookURL string `json:"webhookURL,omitempty" yaml:"webhookURL,omitempty"`
	// PauseRollout pauses the workload, a Deployment or an Argo Rollout
	// (spec.paused; default true).
	PauseRollout *bool `json:"pauseRollout,omitempty" yaml:"pauseRollout,omitempty"`
}
