package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/firedrill/firedrill/drills"
)

type namedStrategy drills.StrategyName

func (n namedStrategy) Name() drills.StrategyName { return drills.StrategyName(n) }
func (n namedStrategy) Act(context.Context, Target, Decision) (Outcome, error) {
	return Outcome{Strategy: n.Name()}, nil
}

func strategies(names ...drills.StrategyName) []Strategy {
	out := make([]Strategy, len(names))
	for i, n := range names {
		out[i] = namedStrategy(n)
	}
	return out
}

func TestEscalationOrderCooldownAndHuman(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	e, err := NewEscalation(strategies(drills.StrategyTrafficSwitch, drills.StrategyHuman, drills.StrategyRevert), 30*time.Second, 3, clk)
	require.NoError(t, err)
	rollback := Decision{Action: ActionRollback}

	s, err := e.Next(rollback)
	require.NoError(t, err)
	require.Equal(t, drills.StrategyTrafficSwitch, s.Name())

	// Not recovered 10 s later: the cooldown holds the next action.
	clk.SetTime(clk.Now().Add(10 * time.Second))
	_, err = e.Next(rollback)
	var cd *CooldownError
	require.ErrorAs(t, err, &cd)
	require.Equal(t, 20*time.Second, cd.Remaining)

	clk.SetTime(clk.Now().Add(20 * time.Second))
	s, err = e.Next(rollback)
	require.NoError(t, err)
	require.Equal(t, drills.StrategyRevert, s.Name(), "human is the last resort wherever listed")
	require.Equal(t, 2, e.Attempts())

	// Out of automated strategies: the human, without waiting.
	s, err = e.Next(rollback)
	require.NoError(t, err)
	require.Equal(t, drills.StrategyHuman, s.Name())
	require.True(t, e.HandedOver())
	_, err = e.Next(rollback)
	require.ErrorIs(t, err, ErrHandedOver)

	// A new incident starts over, after the cooldown.
	e.Reset()
	_, err = e.Next(rollback)
	require.ErrorAs(t, err, &cd)
	clk.SetTime(clk.Now().Add(30 * time.Second))
	s, err = e.Next(rollback)
	require.NoError(t, err)
	require.Equal(t, drills.StrategyTrafficSwitch, s.Name())
}

func TestEscalationMaxAttempts(t *testing.T) {
	clk := clocktesting.NewFakePassiveClock(time.Now())
	e, err := NewEscalation(strategies(drills.StrategyShrink, drills.StrategyTrafficSwitch, drills.StrategyRevert, drills.StrategyHuman), time.Second, 2, clk)
	require.NoError(t, err)
	for _, want := range []drills.StrategyName{drills.StrategyShrink, drills.StrategyTrafficSwitch, drills.StrategyHuman} {
		s, err := e.Next(Decision{Action: ActionPartialRollback})
		require.NoError(t, err)
		require.Equal(t, want, s.Name())
		clk.SetTime(clk.Now().Add(time.Second))
	}
}

func TestEscalationRequireHumanAndErrors(t *testing.T) {
	e, err := NewEscalation(strategies(drills.StrategyRevert, drills.StrategyHuman), 0, 3, nil)
	require.NoError(t, err)
	_, err = e.Next(Decision{Action: ActionNone})
	require.ErrorIs(t, err, ErrNoAnomaly)
	s, err := e.Next(Decision{Action: ActionRequireHuman})
	require.NoError(t, err)
	require.Equal(t, drills.StrategyHuman, s.Name())

	e, err = NewEscalation(strategies(drills.StrategyRevert), 0, 3, nil)
	require.NoError(t, err)
	_, err = e.Next(Decision{Action: ActionRollback})
	require.NoError(t, err)
	_, err = e.Next(Decision{Action: ActionRollback})
	require.True(t, errors.Is(err, ErrExhausted))

	_, err = NewEscalation(nil, 0, 0, nil)
	require.Error(t, err)
	_, err = NewEscalation(strategies(drills.StrategyHuman, drills.StrategyHuman), 0, 1, nil)
	require.Error(t, err)

	g := drills.Guard{Cooldown: drills.D(time.Minute)}
	e, err = NewGuardEscalation(g, strategies(drills.StrategyRevert), nil)
	require.NoError(t, err)
	require.Equal(t, time.Minute, e.cooldown)
	require.Equal(t, drills.DefaultMaxAttempts, e.maxAttempts)
}
