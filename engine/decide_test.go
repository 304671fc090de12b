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
		{"at threshold", Evidence{Kind: EvidenceRule, Op: drills.OpGT, Value: 0.05, Threshold: 0.05}, 0.8},
		{"1.5x threshold", Evidence{Kind: EvidenceRule, Op: drills.OpGT, Value: 0.075, Threshold: 0.05}, 0.9},
		{"2x threshold", Evidence{Kind: EvidenceRule, Op: drills.OpGE, Value: 0.1, Threshold: 0.05}, 1},
		{"10x threshold capped", Evidence{Kind: EvidenceRule, Op: drills.OpGT, Value: 0.5, Threshold: 0.05}, 1},
		{"default op is >", Evidence{Kind: EvidenceRule, Value: 3, Threshold: 2}, 0.9},
		{"< at threshold", Evidence{Kind: EvidenceRule, Op: drills.OpLT, Value: 0.8, Threshold: 0.8}, 0.8},
		{"< at 2/3 threshold", Evidence{Kind: EvidenceRule, Op: drills.OpLT, Value: 0.8 / 1.5, Threshold: 0.8}, 0.9},
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
		{"critical at 1.5x: exactly rollbackAt", []Evidence{rule(drills.SeverityCritical, 0.075, 0)}, WorkloadState{}, 0.9, ActionRollback, 100},
		{"critical just below 1.5x: partial", []Evidence{rule(drills.SeverityCritical, 0.0749, 0)}, WorkloadState{}, 0.8996, ActionPartialRollback, 50},
		{"critical at threshold: partial", []Evidence{rule(drills.SeverityCritical, 0.05, 0)}, WorkloadState{}, 0.8, ActionPartialRollback, 50},
		{"critical at threshold after 10s: rollback", []Evidence{rule(drills.SeverityCritical, 0.05, 10*time.Second)}, WorkloadState{}, 0.9, ActionRollback, 100},
		{"warning at threshold: human", []Evidence{rule(drills.SeverityWarning, 0.05, 0)}, WorkloadState{}, 0.64, ActionRequireHuman, 0},
		{"warning at threshold after 6s: exactly partialAt", []Evidence{rule(drills.SeverityWarning, 0.05, 6*time.Second)}, WorkloadState{}, 0.7, ActionPartialRollback, 50},
		{"warning at threshold after 5.9s: human", []Evidence{rule(drills.SeverityWarning, 0.05, 5900*time.Millisecond)}, WorkloadState{}, 0.699, ActionRequireHuman, 0},
		{"warning capped decay", []Evidence{rule(drills.SeverityWarning, 0.05, time.Hour)}, WorkloadState{}, 0.94, ActionRollback, 100},
		{"emergency: confidence capped", []Evidence{rule(drills.SeverityEmergency, 0.2, 0)}, WorkloadState{}, 1.25, ActionRollback, 100},
		{"pod kill self-heals: human", []Evidence{k8s(drills.SeverityCritical, 0)}, podKill, 0.5, ActionRequireHuman, 0},
		{"pod kill persisting 20s: partial", []Evidence{k8s(drills.SeverityCritical, 20*time.Second)}, podKill, 0.7, ActionPartialRollback, 50},
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
	require.Contains(t, dec.Reason, "E 0.90 × S 1.00 / R 1.00 + T 0.00")
}

func TestRuleEvidence(t *testing.T) {
	since := time.Now()
	e := RuleEvidence(drills.Rule{Name: "LatencySpike", Threshold: 2, Severity: drills.SeverityWarning},
		RuleStatus{Rule: "LatencySpike", State: RuleFiring, Since: since, Value: 3})
	require.Equal(t, Evidence{Kind: EvidenceRule, Source: "LatencySpike", Severity: drills.SeverityWarning, Since: since, Value: 3, Op: drills.OpGT, Threshold: 2}, e)
	require.InDelta(t, 0.9, ErrorRateTerm(e), 1e-9)
}
