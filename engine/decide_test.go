package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

func TestErrorRateTerm(t *testing.T) {
	tests := []struct {
		name string
		e    Evidence
		want float64
	}{
		{"kubernetes signal", Evidence{Kind: EvidenceKubernetes}, 1},
		{"sequential degraded", Evidence{Kind: EvidenceSequential}, 1},
		{"at threshold", Evidence{Kind: EvidenceRule, Op: drills.OpGT, Value: 0.05, Threshold: 0.05}, 0.5},
		{"1.5x threshold", Evidence{Kind: EvidenceRule, Op: drills.OpGT, Value: 0.075, Threshold: 0.05}, 0.75},
		{"seed: 2.5% against a 1% SLO", Evidence{Kind: EvidenceRule, Op: drills.OpGT, Value: 0.025, Threshold: 0.01}, 1},
		{"below threshold (a rule still in its for window)", Evidence{Kind: EvidenceRule, Op: drills.OpGT, Value: 0.025, Threshold: 0.05}, 0.25},
		{"negative value under a positive threshold", Evidence{Kind: EvidenceRule, Op: drills.OpGT, Value: -1, Threshold: 0.05}, 1},
		{"2x threshold", Evidence{Kind: EvidenceRule, Op: drills.OpGE, Value: 0.1, Threshold: 0.05}, 1},
		{"10x threshold capped", Evidence{Kind: EvidenceRule, Op: drills.OpGT, Value: 0.5, Threshold: 0.05}, 1},
		{"default op is >", Evidence{Kind: EvidenceRule, Value: 3, Threshold: 2}, 0.75},
		{"< at threshold", Evidence{Kind: EvidenceRule, Op: drills.OpLT, Value: 0.8, Threshold: 0.8}, 0.5},
		{"< at 2/3 threshold", Evidence{Kind: EvidenceRule, Op: drills.OpLT, Value: 0.8 / 1.5, Threshold: 0.8}, 0.75},
		{"<= at half threshold", Evidence{Kind: EvidenceRule, Op: drills.OpLE, Value: 0.4, Threshold: 0.8}, 1},
		{"< value zero", Evidence{Kind: EvidenceRule, Op: drills.OpLT, Value: 0, Threshold: 0.8}, 1},
		{"> zero threshold", Evidence{Kind: EvidenceRule, Op: drills.OpGT, Value: 3, Threshold: 0}, 1},
		{"== is categorical", Evidence{Kind: EvidenceRule, Op: drills.OpEQ, Value: 1, Threshold: 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.InDelta(t, tt.want, ErrorRateTerm(tt.e), 1e-9)
		})
	}
}

func TestSeverityWeightAndTimeDecay(t *testing.T) {
	require.Equal(t, 0.8, SeverityWeight(drills.SeverityWarning))
	require.Equal(t, 0.8, SeverityWeight(""))
	require.Equal(t, 1.0, SeverityWeight(drills.SeverityCritical))
	require.Equal(t, 1.25, SeverityWeight(drills.SeverityEmergency))

	require.Equal(t, 0.0, TimeDecay(0))
	require.Equal(t, 0.0, TimeDecay(-time.Second))
	require.InDelta(t, 0.05, TimeDecay(5*time.Second), 1e-9)
	require.InDelta(t, 0.1, TimeDecay(10*time.Second), 1e-9)
	require.InDelta(t, 0.3, TimeDecay(30*time.Second), 1e-9)
	require.InDelta(t, 0.3, TimeDecay(time.Hour), 1e-9)
}

func TestRecoveryPotential(t *testing.T) {
	tests := []struct {
		name string
		w    WorkloadState
		want float64
	}{
		{"no sign", WorkloadState{Revision: 3, RevisionAtStart: 3}, 1},
		{"pod kill healed by kubernetes", WorkloadState{Revision: 3, RevisionAtStart: 3, Restarts: 1}, 2},
		{"restarts during rollout", WorkloadState{Revision: 4, RevisionAtStart: 4, Restarts: 2, RolloutInProgress: true}, 1},
		{"restarts under new revision", WorkloadState{Revision: 4, RevisionAtStart: 3, Restarts: 2}, 1},
		{"ready rising", WorkloadState{ReadyBefore: 1, ReadyNow: 2}, 1.5},
		{"ready rising during a rollout: the new release's pods", WorkloadState{ReadyBefore: 3, ReadyNow: 4, RolloutInProgress: true}, 1},
		{"both", WorkloadState{Revision: 3, RevisionAtStart: 3, Restarts: 1, ReadyBefore: 1, ReadyNow: 3}, 2.5},
		{"flapping once", WorkloadState{Revision: 5, RevisionAtStart: 5, SelfCleared: 1}, 1.5},
		{"flapping, capped at +1", WorkloadState{Revision: 5, RevisionAtStart: 5, SelfCleared: 4}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, why := tt.w.RecoveryPotential()
			require.Equal(t, tt.want, r)
			require.Equal(t, tt.want > 1, len(why) > 0)
		})
	}
}

func TestDecideThresholds(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	rule := func(sev drills.Severity, value float64, age time.Duration) Evidence {
		return Evidence{Kind: EvidenceRule, Source: "HighErrorRate", Severity: sev, Op: drills.OpGT,
			Value: value, Threshold: 0.05, Since: now.Add(-age)}
	}
	k8s := func(sev drills.Severity, age time.Duration) Evidence {
		return Evidence{Kind: EvidenceKubernetes, Source: "crashLoop", Severity: sev, Since: now.Add(-age)}
	}
	podKill := WorkloadState{Revision: 2, RevisionAtStart: 2, Restarts: 1}
	tests := []struct {
		name    string
		ev      []Evidence
		w       WorkloadState
		score   float64
		action  Action
		percent int
	}{
		{"nothing", nil, WorkloadState{}, 0, ActionNone, 0},
		{"critical signal: rollback", []Evidence{k8s(drills.SeverityCritical, 0)}, WorkloadState{}, 1.0, ActionRollback, 100},
		{"seed: 10% against the 5% critical rule: rollback", []Evidence{rule(drills.SeverityCritical, 0.10, 0)}, WorkloadState{}, 1.0, ActionRollback, 100},
		{"critical at 1.8x: exactly rollbackAt", []Evidence{rule(drills.SeverityCritical, 0.09, 0)}, WorkloadState{}, 0.9, ActionRollback, 100},
		{"critical just below 1.8x: partial", []Evidence{rule(drills.SeverityCritical, 0.0895, 0)}, WorkloadState{}, 0.895, ActionPartialRollback, 50},
		{"critical at 1.4x: exactly partialAt", []Evidence{rule(drills.SeverityCritical, 0.07, 0)}, WorkloadState{}, 0.7, ActionPartialRollback, 50},
		{"critical at threshold: human", []Evidence{rule(drills.SeverityCritical, 0.05, 0)}, WorkloadState{}, 0.5, ActionRequireHuman, 0},
		{"critical at threshold after 20s: partial", []Evidence{rule(drills.SeverityCritical, 0.05, 20*time.Second)}, WorkloadState{}, 0.7, ActionPartialRollback, 50},
		{"critical at 1.6x after 10s: rollback", []Evidence{rule(drills.SeverityCritical, 0.08, 10*time.Second)}, WorkloadState{}, 0.9, ActionRollback, 100},
		{"warning at threshold: human", []Evidence{rule(drills.SeverityWarning, 0.05, 0)}, WorkloadState{}, 0.4, ActionRequireHuman, 0},
		{"warning at 2x: partial", []Evidence{rule(drills.SeverityWarning, 0.1, 0)}, WorkloadState{}, 0.8, ActionPartialRollback, 50},
		{"warning at 2x after 9.9s: partial", []Evidence{rule(drills.SeverityWarning, 0.1, 9900*time.Millisecond)}, WorkloadState{}, 0.899, ActionPartialRollback, 50},
		{"warning at threshold, capped decay: partial", []Evidence{rule(drills.SeverityWarning, 0.05, time.Hour)}, WorkloadState{}, 0.7, ActionPartialRollback, 50},
		{"emergency: confidence capped", []Evidence{rule(drills.SeverityEmergency, 0.2, 0)}, WorkloadState{}, 1.25, ActionRollback, 100},
		{"pod kill self-heals: human", []Evidence{k8s(drills.SeverityCritical, 0)}, podKill, 0.5, ActionRequireHuman, 0},
		{"pod kill persisting 20s: partial", []Evidence{k8s(drills.SeverityCritical, 20*time.Second)}, podKill, 0.7, ActionPartialRollback, 50},
		{"pod kill at 3x a critical rule: E 1 / R 2", []Evidence{rule(drills.SeverityCritical, 0.15, 0)}, podKill, 0.5, ActionRequireHuman, 0},
		{"strongest evidence wins, earliest since",
			[]Evidence{rule(drills.SeverityWarning, 0.1, 10*time.Second), k8s(drills.SeverityCritical, 0)}, WorkloadState{}, 1.1, ActionRollback, 100},
	}
	d := NewDecider(drills.Decision{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := d.Decide(now, tt.ev, tt.w)
			require.InDelta(t, tt.score, dec.Score, 1e-9)
			require.Equal(t, tt.action, dec.Action, dec.Reason)
			require.Equal(t, tt.percent, dec.Percent)
			require.LessOrEqual(t, dec.Confidence, 1.0)
			require.NotEmpty(t, dec.Reason)
		})
	}
}

func TestDecideCustomThresholds(t *testing.T) {
	ra, pa := 0.95, 0.5
	d := NewDecider(drills.Decision{RollbackAt: &ra, PartialAt: &pa, PartialPercent: 25})
	now := time.Now()
	dec := d.Decide(now, []Evidence{{Kind: EvidenceRule, Source: "r", Severity: drills.SeverityCritical, Op: drills.OpGT, Value: 0.075, Threshold: 0.05, Since: now}}, WorkloadState{})
	require.Equal(t, ActionPartialRollback, dec.Action)
	require.Equal(t, 25, dec.Percent)
	require.Contains(t, dec.Reason, "E 0.75 × S 1.00 / R 1.00 + T 0.00")
}

func TestRuleEvidence(t *testing.T) {
	since := time.Now()
	e := RuleEvidence(drills.Rule{Name: "LatencySpike", Threshold: 2, Severity: drills.SeverityWarning},
		RuleStatus{Rule: "LatencySpike", State: RuleFiring, Since: since, Value: 3})
	require.Equal(t, Evidence{Kind: EvidenceRule, Source: "LatencySpike", Severity: drills.SeverityWarning, Since: since, Value: 3, Op: drills.OpGT, Threshold: 2}, e)
	require.InDelta(t, 0.75, ErrorRateTerm(e), 1e-9)
}

// TestDecideSeedExamples checks each term of the seed's formula, Score =
// ErrorRate × Severity / RecoveryPotential + TimeDecay, against values
// computed by hand.
func TestDecideSeedExamples(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		ev         Evidence
		w          WorkloadState
		e, s, r, d float64
		action     Action
	}{
		// 0.10/0.05 = 2 → E = 2/2 = 1; critical S = 1; R = 1; T = 0 → 1.0.
		{"10% against the seed's 5% critical rule", Evidence{Kind: EvidenceRule, Source: "HighErrorRate", Severity: drills.SeverityCritical,
			Op: drills.OpGT, Value: 0.10, Threshold: 0.05, Since: now}, WorkloadState{}, 1, 1, 1, 0, ActionRollback},
		// 0.025/0.01 = 2.5 → clamp 2 → E = 1; warning S = 0.8; T(5s) = 0.05 → 0.85.
		{"2.5% against a 1% warning rule for 5s", Evidence{Kind: EvidenceRule, Source: "SLOErrorRate", Severity: drills.SeverityWarning,
			Op: drills.OpGT, Value: 0.025, Threshold: 0.01, Since: now.Add(-5 * time.Second)}, WorkloadState{}, 1, 0.8, 1, 0.05, ActionPartialRollback},
		// p99 3 s against 2 s → E = 1.5/2 = 0.75; warning 0.8; pod restarts → R = 2; T(10s) = 0.1 → 0.4.
		{"latency spike while pods restart", Evidence{Kind: EvidenceRule, Source: "LatencySpike", Severity: drills.SeverityWarning,
			Op: drills.OpGT, Value: 3, Threshold: 2, Since: now.Add(-10 * time.Second)}, WorkloadState{Revision: 1, RevisionAtStart: 1, Restarts: 2}, 0.75, 0.8, 2, 0.1, ActionRequireHuman},
	}
	d := NewDecider(drills.Decision{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := d.Decide(now, []Evidence{tt.ev}, tt.w)
			require.InDelta(t, tt.e, dec.ErrorRate, 1e-9)
			require.InDelta(t, tt.s, dec.Severity, 1e-9)
			require.InDelta(t, tt.r, dec.RecoveryPotential, 1e-9)
			require.InDelta(t, tt.d, dec.TimeDecay, 1e-9)
			require.InDelta(t, tt.e*tt.s/tt.r+tt.d, dec.Score, 1e-9)
			require.Equal(t, tt.action, dec.Action, dec.Reason)
		})
	}
}
