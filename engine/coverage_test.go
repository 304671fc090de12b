package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

// noopStrategy acts without touching anything.
type noopStrategy struct{}

func (noopStrategy) Name() drills.StrategyName { return drills.StrategyRevert }
func (noopStrategy) Act(context.Context, Target, Decision) (Outcome, error) {
	return Outcome{Message: "nothing done"}, nil
}

// stubSignal returns the same observation every time.
type stubSignal struct {
	name string
	obs  Observation
}

func (s stubSignal) Name() string                                   { return s.name }
func (s stubSignal) Observe(context.Context, time.Time) Observation { return s.obs }

// observed records what OnObserve received.
type observed struct {
	at    []time.Time
	units [][]UnitReport
}

func (o *observed) add(now time.Time, units []UnitReport) {
	o.at = append(o.at, now)
	o.units = append(o.units, units)
}

func TestRuleSignalUnits(t *testing.T) {
	prom := newFakeProm(t, map[string]float64{"firing_metric": 1, "clear_metric": 0})
	p := drills.Guard{Rules: []drills.Rule{
		{Name: "Missing", Expr: "missing_metric", Op: drills.OpGT, Threshold: 0.5},
		{Name: "Firing", Expr: "firing_metric", Op: drills.OpGT, Threshold: 0.5},
		{Name: "Pending", Expr: "firing_metric", Op: drills.OpGT, Threshold: 0.5, For: drills.D(time.Hour)},
		{Name: "Clear", Expr: "clear_metric", Op: drills.OpGT, Threshold: 0.5},
	}}
	obs := NewRuleSignal(prom.api(t), p, "").Observe(context.Background(), time.Now())
	require.Equal(t, []UnitReport{
		{Name: "rule Missing", State: UnitHeld, Reason: "no data"},
		{Name: "rule Firing", State: UnitFiring},
		{Name: "rule Pending", State: UnitClear},
		{Name: "rule Clear", State: UnitClear},
	}, obs.Units)
	require.Equal(t, []string{"rule Missing: no data"}, obs.Hold, "the hold list keeps its format")
}

func TestGuardOnObserveReportsEveryUnit(t *testing.T) {
	prom := newFakeProm(t, map[string]float64{"clear_metric": 0})
	p := drills.Guard{
		Interval:     drills.D(time.Second),
		VerifyWindow: drills.D(time.Hour),
		Rules: []drills.Rule{
			{Name: "Missing", Expr: "missing_metric", Op: drills.OpGT, Threshold: 0.5},
			{Name: "Clear", Expr: "clear_metric", Op: drills.OpGT, Threshold: 0.5},
		},
	}
	var seen observed
	g, err := NewGuard(p, guardTarget, WithPrometheus(prom.api(t)), WithStrategies(noopStrategy{}),
		WithSignals(
			stubSignal{name: "held-extra", obs: Observation{Hold: []string{"a", "b"}}},
			stubSignal{name: "firing-extra", obs: Observation{Evidence: []Evidence{{Source: "x", Severity: drills.SeverityWarning}}}},
			stubSignal{name: "clear-extra"},
		),
		OnObserve(seen.add))
	require.NoError(t, err)

	now := time.Now()
	g.step(context.Background(), now)
	require.Equal(t, []time.Time{now}, seen.at)
	require.Equal(t, []UnitReport{
		{Name: "rule Missing", State: UnitHeld, Reason: "no data"},
		{Name: "rule Clear", State: UnitClear},
		{Name: "held-extra", State: UnitHeld, Reason: "a; b"},
		{Name: "firing-extra", State: UnitFiring},
		{Name: "clear-extra", State: UnitClear},
	}, seen.units[0])

	// The series appears: the rule evaluates for real from then on.
	prom.set("missing_metric", 0.1)
	g.step(context.Background(), now.Add(time.Second))
	require.Len(t, seen.units, 2)
	require.Equal(t, UnitReport{Name: "rule Missing", State: UnitClear}, seen.units[1][0])
	require.EqualValues(t, 2, g.Evaluations())
}
