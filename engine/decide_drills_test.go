package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

// TestShippedDrillsScore scores the first evidence of each shipped drill
// (drills/examples, the demo) with its own numbers: those that expect a
// rollback decide one at once, pod-kill's self-healing stays with a human.
func TestShippedDrillsScore(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	highErrorRate := func(v float64, persisted time.Duration) Evidence {
		return Evidence{Kind: EvidenceRule, Source: "HighErrorRate", Severity: drills.SeverityCritical,
			Op: drills.OpGT, Value: v, Threshold: 0.05, Since: now.Add(-persisted)}
	}
	tests := []struct {
		name   string
		ev     Evidence
		w      WorkloadState
		score  float64
		action Action
	}{
		// payment:v2-buggy fails 10 % (clusters/local/stack): 0.10/0.05 = 2 → E 1.
		{"seed-auto-rollback, bad-image: 10 % against the generated 5 % critical rule", highErrorRate(0.10, 3*time.Second),
			WorkloadState{}, 1.03, ActionRollback},
		// podinfo --random-error answers a third with errors.
		{"podinfo bad-release: 33 % against 5 %", highErrorRate(0.33, 3*time.Second), WorkloadState{}, 1.03, ActionRollback},
		{"bad-image, bad-config: the sequential test decided Degraded", Evidence{Kind: EvidenceSequential, Source: "sprt",
			Severity: drills.SeverityCritical, Since: now}, WorkloadState{}, 1, ActionRollback},
		{"bad-image: image pull", Evidence{Kind: EvidenceKubernetes, Source: "imagePull", Severity: drills.SeverityCritical, Since: now},
			WorkloadState{RolloutInProgress: true}, 1, ActionRollback},
		// max(ledger_balance_mismatch) > 0: a zero threshold has no ratio → E 1.
		{"corrupt-release, data-corruption: BalanceInconsistency", Evidence{Kind: EvidenceRule, Source: "BalanceInconsistency",
			Severity: drills.SeverityEmergency, Op: drills.OpGT, Value: 3, Threshold: 0, Since: now.Add(-time.Second)},
			WorkloadState{}, 1.26, ActionRollback},
		// Pods restart under an unchanged revision: R 2.
		{"pod-kill: too few ready replicas while Kubernetes heals", Evidence{Kind: EvidenceKubernetes, Source: "minReadyRatio",
			Severity: drills.SeverityCritical, Since: now}, WorkloadState{Revision: 3, RevisionAtStart: 3, Restarts: 1}, 0.5, ActionRequireHuman},
		// payment:v2-flapping fails 1.5 % in 20 s of every 40 s against a 1 %
		// warning rule: back after one self-cleared episode, just past the
		// line (E 0.525), 3 s in: 0.525×0.8/1.5 + 0.03.
		{"flapping-release: back after clearing by itself", Evidence{Kind: EvidenceRule, Source: "ErrorBudgetBurn",
			Severity: drills.SeverityWarning, Op: drills.OpGT, Value: 0.0105, Threshold: 0.01, Since: now.Add(-3 * time.Second)},
			WorkloadState{Revision: 4, RevisionAtStart: 4, SelfCleared: 1}, 0.31, ActionRequireHuman},
		// The same 1.5 % held steadily for 30 s: 0.75×0.8 + 0.3.
		{"a steady 1.5 % release against the same rule", Evidence{Kind: EvidenceRule, Source: "ErrorBudgetBurn",
			Severity: drills.SeverityWarning, Op: drills.OpGT, Value: 0.015, Threshold: 0.01, Since: now.Add(-30 * time.Second)},
			WorkloadState{Revision: 4, RevisionAtStart: 4}, 0.9, ActionRollback},
	}
	d := NewDecider(drills.Decision{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := d.Decide(now, []Evidence{tt.ev}, tt.w)
			require.InDelta(t, tt.score, dec.Score, 1e-9, dec.Reason)
			require.Equal(t, tt.action, dec.Action, dec.Reason)
			require.False(t, d.Premature(dec), "acted on at once: %s", dec.Reason)
		})
	}
}

func TestPremature(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	rule := func(v float64, persisted time.Duration) []Evidence {
		return []Evidence{{Kind: EvidenceRule, Source: "HighErrorRate", Severity: drills.SeverityCritical,
			Op: drills.OpGT, Value: v, Threshold: 0.05, Since: now.Add(-persisted)}}
	}
	d := NewDecider(drills.Decision{})
	tests := []struct {
		name      string
		ev        []Evidence
		w         WorkloadState
		action    Action
		premature bool
	}{
		{"just fired, climbing: partial is premature", rule(0.07, 3*time.Second), WorkloadState{}, ActionPartialRollback, true},
		{"just fired at the line: human is premature", rule(0.05, 3*time.Second), WorkloadState{}, ActionRequireHuman, true},
		{"rollback is never premature", rule(0.09, 3*time.Second), WorkloadState{}, ActionRollback, false},
		{"T complete: partial stands", rule(0.055, TimeDecaySaturation), WorkloadState{}, ActionPartialRollback, false},
		{"saturated rule healing itself: human at once", rule(0.15, 0), WorkloadState{Revision: 1, RevisionAtStart: 1, Restarts: 2},
			ActionRequireHuman, false},
		{"back after clearing by itself: judged at once", rule(0.07, 3*time.Second), WorkloadState{Revision: 2, RevisionAtStart: 2, SelfCleared: 1},
			ActionRequireHuman, false},
		{"no evidence", nil, WorkloadState{}, ActionNone, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dec := d.Decide(now, tt.ev, tt.w)
			require.Equal(t, tt.action, dec.Action, dec.Reason)
			require.Equal(t, tt.premature, d.Premature(dec), dec.Reason)
		})
	}
	require.Equal(t, 30*time.Second, TimeDecaySaturation)
}

// rampSignal is a rule HighErrorRate (> 0.05 for 3s, critical) over a
// reading that follows value(t), t since start, as RuleTracker fires it.
type rampSignal struct {
	start time.Time
	value func(t time.Duration) float64
	since *time.Time
}

func (rampSignal) Name() string { return "ramp" }
func (s rampSignal) Observe(_ context.Context, now time.Time) Observation {
	v := s.value(now.Sub(s.start))
	if v <= 0.05 {
		*s.since = time.Time{}
		return Observation{}
	}
	if s.since.IsZero() {
		*s.since = now
	}
	if now.Sub(*s.since) < 3*time.Second {
		return Observation{Hold: nil}
	}
	return Observation{Evidence: []Evidence{{Kind: EvidenceRule, Source: "HighErrorRate", Severity: drills.SeverityCritical,
		Op: drills.OpGT, Value: v, Threshold: 0.05, Since: *s.since}}}
}

// acted is a decision a recording strategy acted on.
type acted struct {
	strategy drills.StrategyName
	Decision
}

// recording is a strategy that records the decisions it acts on.
type recording struct {
	name drills.StrategyName
	got  *[]acted
}

func (r recording) Name() drills.StrategyName { return r.name }
func (r recording) Act(_ context.Context, _ Target, d Decision) (Outcome, error) {
	*r.got = append(*r.got, acted{r.name, d})
	return Outcome{Strategy: r.name}, nil
}

// recordingStrategies are the default strategies, revert then human.
func recordingStrategies(got *[]acted) Option {
	return WithStrategies(recording{drills.StrategyRevert, got}, recording{drills.StrategyHuman, got})
}

// TestGuardJudgesAClimbingRuleOnWhatItClimbsTo steps a guard at 500 ms
// through the shipped drills' bad release as the generated 15 s rate sees
// it: the rule fires at 6–7 %, in the partial or human band, and the
// guard waits for the reading and T instead of acting on it.
func TestGuardJudgesAClimbingRuleOnWhatItClimbsTo(t *testing.T) {
	tests := []struct {
		name  string
		value func(time.Duration) float64
		// wantAt is when the rollback is decided (since the release).
		wantAt   time.Duration
		action   Action
		strategy drills.StrategyName
	}{
		// A 15 s rate of a step to 10 %: past 5 % at 8 s, fires at 11 s
		// (7.3 %: 0.76, partial), 0.92 at 13 s.
		{"every pod at once", func(t time.Duration) float64 { return 0.10 * min(t.Seconds(), 15) / 15 }, 13 * time.Second, ActionRollback, drills.StrategyRevert},
		// A rollout stalled at two of three pods bad: 6.7 % steady, 0.70 at
		// firing (human); T brings it to 0.9 at 23.5 s.
		{"rollout stalled at 2/3", func(time.Duration) float64 { return 0.10 * 2 / 3 }, 23500 * time.Millisecond, ActionRollback, drills.StrategyRevert},
		// A reading that stays at 5.5 %: acted on as it stands once T is
		// complete (0.55 + 0.3 = 0.85, partial: no shrink, so the human).
		{"steady just past the line", func(time.Duration) float64 { return 0.055 }, 30 * time.Second, ActionPartialRollback, drills.StrategyHuman},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			var since time.Time
			var got []acted
			var events []Event
			g, err := NewGuard(drills.Guard{Interval: drills.D(500 * time.Millisecond), VerifyWindow: drills.D(time.Hour)}, guardTarget,
				recordingStrategies(&got),
				WithSignals(rampSignal{start: start, value: tt.value, since: &since}),
				OnEvent(func(e Event) { events = append(events, e) }))
			require.NoError(t, err)
			for at := time.Duration(0); at <= time.Minute && len(got) == 0; at += 500 * time.Millisecond {
				g.step(context.Background(), start.Add(at))
			}
			require.Len(t, got, 1, "acted on once")
			require.Equal(t, tt.strategy, got[0].strategy, got[0].Reason)
			require.Equal(t, tt.action, got[0].Action, got[0].Reason)
			require.Equal(t, start.Add(tt.wantAt), got[0].Time, got[0].Reason)
			var decisions int
			for _, e := range events {
				if e.Kind == EventDecision {
					decisions++
				}
			}
			require.Equal(t, 1, decisions, "no decision before the one acted on")
		})
	}

	// A reading that falls back under the line before T is complete is
	// never acted on.
	start := time.Now()
	var since time.Time
	var got []acted
	g, err := NewGuard(drills.Guard{Interval: drills.D(500 * time.Millisecond), VerifyWindow: drills.D(5 * time.Second)}, guardTarget,
		recordingStrategies(&got),
		WithSignals(rampSignal{start: start, since: &since, value: func(t time.Duration) float64 {
			if t < 10*time.Second {
				return 0.055
			}
			return 0
		}}))
	require.NoError(t, err)
	for at := time.Duration(0); at <= time.Minute; at += 500 * time.Millisecond {
		g.step(context.Background(), start.Add(at))
	}
	require.Empty(t, got)
	require.Nil(t, g.inc, "the incident closed without an action")
}
