package engine

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// Action is what a Decision asks the engine to do.
type Action string

// Actions, from the seed's decider.
const (
	// ActionNone: there is no anomaly to act on.
	ActionNone Action = "none"
	// ActionRollback: confidence at or above rollbackAt; roll back fully.
	ActionRollback Action = "rollback"
	// ActionPartialRollback: confidence at or above partialAt; move
	// partialPercent of the traffic or replicas back.
	ActionPartialRollback Action = "partial-rollback"
	// ActionRequireHuman: confidence below partialAt; hand over to a human.
	ActionRequireHuman Action = "require-human"
)

// EvidenceKind says where a piece of evidence comes from.
type EvidenceKind string

// Evidence kinds.
const (
	// EvidenceRule is a firing PromQL rule; its strength grows with how far
	// the value is past the threshold.
	EvidenceRule EvidenceKind = "rule"
	// EvidenceKubernetes is a Kubernetes signal (crash loop, image pull,
	// stalled rollout, too few ready replicas); it is categorical.
	EvidenceKubernetes EvidenceKind = "kubernetes"
	// EvidenceSequential is a sequential test that decided Degraded; it is
	// categorical.
	EvidenceSequential EvidenceKind = "sequential"
)

// Evidence is one current sign of an anomaly.
type Evidence struct {
	// Kind of the evidence.
	Kind EvidenceKind
	// Source names it: the rule's name, the signal's name or the test.
	Source string
	// Severity weighs it (default warning).
	Severity drills.Severity
	// Since is when the anomaly behind it began.
	Since time.Time
	// Value, Op and Threshold are the rule's reading (rules only).
	Value     float64
	Op        drills.Op
	Threshold float64
}

// RuleEvidence is the evidence of a firing rule with its status.
func RuleEvidence(rule drills.Rule, st RuleStatus) Evidence {
	op := rule.Op
	if op == "" {
		op = drills.OpGT
	}
	return Evidence{
		Kind: EvidenceRule, Source: rule.Name, Severity: rule.Severity, Since: st.Since,
		Value: st.Value, Op: op, Threshold: rule.Threshold,
	}
}

// ErrorRateTerm is the term E ∈ [0, 1] of the rollback score: the observed
// error ratio of the signal normalised against its threshold (the SLO the
// rule encodes).
//
//   - A firing rule with a > or >= comparison has E = clamp(value /
//     threshold, 0, 2) / 2: 0.5 exactly at the threshold, 1 at twice the
//     threshold and beyond. For < and <= rules the ratio is inverted
//     (threshold/value), so E reaches 1 at half the threshold.
//   - Kubernetes signals and a sequential test that decided Degraded are
//     categorical: E = 1.
//   - When the ratio is not meaningful (a zero threshold, a value of zero
//     under a < rule, a value and threshold of opposite signs) or the
//     comparison is == or !=, a firing rule counts fully, E = 1.
//
// Why this normalisation: a rule that only just fires is weak evidence on
// its own (E = 0.5, a critical rule scores 0.5); a rule at twice its SLO
// is as strong as a rule can get. A rule reading still short of 1 may be
// climbing through its threshold: the first decision of an incident waits
// while it is Premature. With the default thresholds (rollbackAt 0.9, partialAt
// 0.7) and no self-healing: the seed's 10 % error against its 5 % critical
// rule gives E = 1, S = 1, score 1.0 → full rollback; a 2–3 % release
// against a 1 % warning rule gives E = 1, S = 0.8, score 0.8 → partial
// rollback; a 7–8.5 % error against the 5 % critical rule (E 0.7–0.85)
// lands in the partial band too, and anything below 1.4× a critical
// threshold is in the human band.
func ErrorRateTerm(e Evidence) float64 {
	if e.Kind != EvidenceRule {
		return 1
	}
	var ratio float64
	switch e.Op {
	case drills.OpGT, drills.OpGE, "":
		ratio = e.Value / e.Threshold
	case drills.OpLT, drills.OpLE:
		ratio = e.Threshold / e.Value
	default:
		return 1
	}
	if e.Threshold == 0 || e.Value == 0 || math.Signbit(e.Value) != math.Signbit(e.Threshold) ||
		math.IsNaN(ratio) || math.IsInf(ratio, 0) {
		return 1
	}
	if math.Signbit(e.Threshold) { // both negative: "above" means a smaller magnitude
		ratio = 1 / ratio
	}
	return clamp(ratio, 0, ErrorRateSaturation) / ErrorRateSaturation
}

// ErrorRateSaturation is the multiple of a rule's threshold at which the
// ErrorRate term reaches 1.
const ErrorRateSaturation = 2.0

// SeverityWeight is the term S of the rollback score: warning 0.8 (also
// the weight of an unset severity), critical 1.0, emergency 1.25.
func SeverityWeight(s drills.Severity) float64 {
	switch s {
	case drills.SeverityCritical:
		return 1.0
	case drills.SeverityEmergency:
		return 1.25
	}
	return 0.8
}

// WorkloadState is what the engine sees of the target workload's own
// healing, the input of the RecoveryPotential term.
type WorkloadState struct {
	// RevisionAtStart is the Deployment's revision when the anomaly began;
	// Revision is its revision now.
	RevisionAtStart, Revision int64
	// RolloutInProgress is set while the Deployment is rolling out.
	RolloutInProgress bool
	// Restarts counts container restarts and pod replacements since the
	// anomaly began.
	Restarts int
	// ReadyBefore and ReadyNow are the ready replicas at the previous and
	// the current observation.
	ReadyBefore, ReadyNow int32
	// SelfCleared counts the earlier anomalies under the current revision
	// that went away by themselves in the last FlapWindow: each cleared and
	// stayed clear for the guard's verify window with no action taken. A
	// signal that keeps coming and going under one revision is flapping.
	SelfCleared int
}

// Flapping adds FlapPotential to RecoveryPotential for each earlier
// self-cleared anomaly of the revision, up to FlapPotentialMax.
const (
	FlapPotential    = 0.5
	FlapPotentialMax = 1.0
)

// RecoveryPotential is the term R ≥ 1 of the rollback score: how likely the
// workload is to heal by itself. R = 1 when there is no sign of
// self-healing; +1 when pods restart under an unchanged revision with no
// rollout in progress (a pod kill that Kubernetes repairs itself, not a bad
// release); +0.5 while ready replicas are rising with no rollout in
// progress (during a rollout the rising replicas are the suspect release's
// own new pods, not healing); +0.5 for each earlier anomaly under the same
// revision that went away by itself in the last 10 minutes, up to +1 (a flapping signal: the
// workload keeps recovering without help, and whether this release must
// go is a judgement for a person). It returns the reasons for each
// increment.
func (w WorkloadState) RecoveryPotential() (float64, []string) {
	r := 1.0
	var why []string
	if w.Restarts > 0 && w.Revision == w.RevisionAtStart && !w.RolloutInProgress {
		r++
		why = append(why, fmt.Sprintf("%d pod restart(s) under unchanged revision %d with no rollout in progress", w.Restarts, w.Revision))
	}
	if w.ReadyNow > w.ReadyBefore && !w.RolloutInProgress {
		r += 0.5
		why = append(why, fmt.Sprintf("ready replicas rising %d→%d", w.ReadyBefore, w.ReadyNow))
	}
	if w.SelfCleared > 0 {
		r += math.Min(FlapPotentialMax, FlapPotential*float64(w.SelfCleared))
		why = append(why, fmt.Sprintf("flapping: %d earlier anomal%s under revision %d cleared by itself", w.SelfCleared, plural(w.SelfCleared, "y", "ies"), w.Revision))
	}
	return r, why
}

// Time decay: T grows by TimeDecayPerStep for every TimeDecayStep the
// anomaly has persisted, up to TimeDecayMax.
const (
	TimeDecayStep    = 10 * time.Second
	TimeDecayPerStep = 0.1
	TimeDecayMax     = 0.3
)

// TimeDecaySaturation is how long an anomaly must persist for TimeDecay
// to reach TimeDecayMax (30 s).
const TimeDecaySaturation = time.Duration(TimeDecayMax / TimeDecayPerStep * float64(TimeDecayStep))

// TimeDecay is the term T of the rollback score: 0.1 per 10 s the anomaly
// has persisted (continuously, 0.01 per second), capped at 0.3, so that an
// anomaly that does not go away raises the score over time.
func TimeDecay(persisted time.Duration) float64 {
	if persisted <= 0 {
		return 0
	}
	return math.Min(TimeDecayMax, TimeDecayPerStep*persisted.Seconds()/TimeDecayStep.Seconds())
}

// Decision is the decider's verdict with everything that led to it.
type Decision struct {
	// Time the decision was made.
	Time time.Time
	// Evidence are the current signs of the anomaly.
	Evidence []Evidence
	// Workload is the target's state, behind RecoveryPotential.
	Workload WorkloadState
	// Strongest is the evidence with the largest E×S, which gives
	// ErrorRate and Severity.
	Strongest string
	// ErrorRate (E), Severity (S), RecoveryPotential (R) and TimeDecay (T)
	// are the terms of Score = E×S/R + T.
	ErrorRate, Severity, RecoveryPotential, TimeDecay float64
	// Persisted is how long the anomaly has lasted (since the earliest
	// evidence began).
	Persisted time.Duration
	// Score is E×S/R + T.
	Score float64
	// Confidence is min(1, Score).
	Confidence float64
	// Action is what to do.
	Action Action
	// Percent is the share a partial rollback moves back (100 for a full
	// rollback, 0 otherwise).
	Percent int
	// Reason explains the decision to a human.
	Reason string
}

// Decider maps evidence to a Decision with the guard's thresholds.
type Decider struct {
	rollbackAt, partialAt float64
	partialPercent        int
}

// NewDecider builds a decider from the guard's decision settings; unset
// fields take the drills defaults (0.9, 0.7, 50).
func NewDecider(d drills.Decision) Decider {
	dec := Decider{rollbackAt: drills.DefaultRollbackAt, partialAt: drills.DefaultPartialAt, partialPercent: d.PartialPercent}
	if d.RollbackAt != nil {
		dec.rollbackAt = *d.RollbackAt
	}
	if d.PartialAt != nil {
		dec.partialAt = *d.PartialAt
	}
	if dec.partialPercent <= 0 || dec.partialPercent > 100 {
		dec.partialPercent = drills.DefaultPartialPercent
	}
	return dec
}

// Decide scores the evidence at now: E and S come from the strongest piece
// of evidence (largest E×S), R from the workload, T from how long the
// earliest evidence has persisted. Score = E×S/R + T, confidence =
// min(1, score); rollback at or above rollbackAt, partial rollback at or
// above partialAt, otherwise require a human. Without evidence the action
// is none.
func (d Decider) Decide(now time.Time, evidence []Evidence, w WorkloadState) Decision {
	dec := Decision{Time: now, Evidence: evidence, Workload: w}
	if len(evidence) == 0 {
		dec.Action, dec.Reason = ActionNone, "no anomaly"
		return dec
	}
	best := -1.0
	var since time.Time
	for _, e := range evidence {
		ev, sv := ErrorRateTerm(e), SeverityWeight(e.Severity)
		if ev*sv > best {
			best, dec.ErrorRate, dec.Severity, dec.Strongest = ev*sv, ev, sv, e.Source
		}
		if !e.Since.IsZero() && (since.IsZero() || e.Since.Before(since)) {
			since = e.Since
		}
	}
	if !since.IsZero() {
		dec.Persisted = now.Sub(since)
	}
	var why []string
	dec.RecoveryPotential, why = w.RecoveryPotential()
	dec.TimeDecay = TimeDecay(dec.Persisted)
	dec.Score = dec.ErrorRate*dec.Severity/dec.RecoveryPotential + dec.TimeDecay
	dec.Confidence = math.Min(1, dec.Score)
	switch {
	case dec.Confidence >= d.rollbackAt-scoreTolerance:
		dec.Action, dec.Percent = ActionRollback, 100
	case dec.Confidence >= d.partialAt-scoreTolerance:
		dec.Action, dec.Percent = ActionPartialRollback, d.partialPercent
	default:
		dec.Action = ActionRequireHuman
	}
	recovery := "no sign of self-healing"
	if len(why) > 0 {
		recovery = strings.Join(why, "; ")
	}
	dec.Reason = fmt.Sprintf("%s: score %.3f = E %.2f × S %.2f / R %.2f + T %.2f (strongest %s of %d signal(s), persisted %s; recovery: %s); thresholds rollback %.2f, partial %.2f",
		dec.Action, dec.Score, dec.ErrorRate, dec.Severity, dec.RecoveryPotential, dec.TimeDecay,
		dec.Strongest, len(evidence), dec.Persisted.Round(time.Second), recovery, d.rollbackAt, d.partialAt)
	return dec
}

// Premature reports whether dec, an incident's first decision, is taken
// too early to act on: its action is short of a rollback, its strongest
// evidence is a rule still short of saturation (E < 1, so the reading can
// still climb) and the anomaly is younger than TimeDecaySaturation. The
// guard then waits and decides again at its next evaluation, so that a
// rule which crosses its threshold while its rate window still fills (a
// 15 s rate climbing towards a release's 10 % errors passes 5 % on the way
// and fires at 6–7 %, E 0.6–0.7) is judged on what it climbs to and on how
// long it lasted, not on the first sample past the line: a partial
// rollback or a hand-over to a human is not undone when the score reaches
// rollbackAt a few seconds later. A rollback decision is never held back;
// categorical evidence (Kubernetes signals, a sequential test that decided
// Degraded) and saturated rules are judged at once, as is a score still
// short of rollbackAt once T is complete, and an anomaly that came back
// after clearing by itself under the same revision (a flapping signal: it
// is not climbing through its threshold, and its episodes may never last
// TimeDecaySaturation).
func (d Decider) Premature(dec Decision) bool {
	switch dec.Action {
	case ActionPartialRollback, ActionRequireHuman:
		return dec.ErrorRate < 1 && dec.Persisted < TimeDecaySaturation && dec.Workload.SelfCleared == 0
	}
	return false
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// scoreTolerance absorbs floating-point rounding, so that a score exactly
// at a threshold (0.075/0.05 is 1.4999999999999998) counts as reaching it.
const scoreTolerance = 1e-9

func clamp(x, lo, hi float64) float64 { return math.Max(lo, math.Min(hi, x)) }
