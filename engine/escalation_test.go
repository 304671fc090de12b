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

// partialStrategy is a fake strategy that can act on a share.
type partialStrategy struct{ namedStrategy }

func (partialStrategy) ActsPartially() bool { return true }

// strategies are fakes by name; shrink acts partially, as the real one.
func strategies(names ...drills.StrategyName) []Strategy {
	out := make([]Strategy, len(names))
	for i, n := range names {
		out[i] = namedStrategy(n)
		if n == drills.StrategyShrink {
			out[i] = partialStrategy{namedStrategy(n)}
		}
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
		s, err := e.Next(Decision{Action: ActionRollback})
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

func TestEscalationRollbackAndPartialTakeDifferentStrategies(t *testing.T) {
	partial, rollback := Decision{Action: ActionPartialRollback, Percent: 50}, Decision{Action: ActionRollback, Percent: 100}
	names := func(ss ...Strategy) []drills.StrategyName {
		var out []drills.StrategyName
		for _, s := range ss {
			out = append(out, s.Name())
		}
		return out
	}
	// next runs the decisions in order, one cooldown apart, and returns the
	// strategies chosen (stopping at the first error).
	next := func(t *testing.T, list []drills.StrategyName, ds ...Decision) ([]drills.StrategyName, error) {
		t.Helper()
		clk := clocktesting.NewFakePassiveClock(time.Now())
		e, err := NewEscalation(strategies(list...), time.Second, 5, clk)
		require.NoError(t, err)
		var got []Strategy
		for _, d := range ds {
			s, err := e.Next(d)
			if err != nil {
				return names(got...), err
			}
			got = append(got, s)
			clk.SetTime(clk.Now().Add(time.Second))
		}
		return names(got...), nil
	}
	list := []drills.StrategyName{drills.StrategyRevert, drills.StrategyTrafficSwitch, drills.StrategyShrink, drills.StrategyHuman}
	tests := []struct {
		name string
		list []drills.StrategyName
		ds   []Decision
		want []drills.StrategyName
		err  error
	}{
		{"rollback takes the full chain in order", list, []Decision{rollback, rollback},
			[]drills.StrategyName{drills.StrategyRevert, drills.StrategyTrafficSwitch}, nil},
		{"partial takes the strategy that acts partially", list, []Decision{partial},
			[]drills.StrategyName{drills.StrategyShrink}, nil},
		{"partial, then the score rises: the full chain from its start", list, []Decision{partial, rollback, rollback},
			[]drills.StrategyName{drills.StrategyShrink, drills.StrategyRevert, drills.StrategyTrafficSwitch}, nil},
		{"partial, still partial: a human", list, []Decision{partial, partial},
			[]drills.StrategyName{drills.StrategyShrink, drills.StrategyHuman}, nil},
		{"partial with nothing that acts partially: a human", []drills.StrategyName{drills.StrategyRevert, drills.StrategyHuman}, []Decision{partial},
			[]drills.StrategyName{drills.StrategyHuman}, nil},
		{"partial with nothing partial and no human", []drills.StrategyName{drills.StrategyRevert}, []Decision{partial},
			nil, ErrExhausted},
		{"below partialAt: a human", list, []Decision{{Action: ActionRequireHuman}},
			[]drills.StrategyName{drills.StrategyHuman}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := next(t, tt.list, tt.ds...)
			if tt.err != nil {
				require.ErrorIs(t, err, tt.err)
			} else {
				require.NoError(t, err)
			}
			require.Equal(t, tt.want, got)
		})
	}

	// A new incident may take the partial action again.
	e, err := NewEscalation(strategies(list...), 0, 5, nil)
	require.NoError(t, err)
	s, err := e.Next(partial)
	require.NoError(t, err)
	require.Equal(t, drills.StrategyShrink, s.Name())
	e.Reset()
	s, err = e.Next(partial)
	require.NoError(t, err)
	require.Equal(t, drills.StrategyShrink, s.Name())
}

func TestStrategiesThatCannotActPartiallyRefuse(t *testing.T) {
	partial := Decision{Action: ActionPartialRollback, Percent: 50}
	// No client and an unreachable database: a strategy that acted at all
	// would fail differently.
	rv := NewRevert(nil, nil)
	ts, err := NewTrafficSwitch(nil, &drills.TrafficSwitchSettings{StableSelector: map[string]string{"track": "stable"}})
	require.NoError(t, err)
	rs, err := NewRestore(&drills.RestoreSettings{DSN: "postgres://nobody@127.0.0.1:1/none", RestoreSQL: "select 1", VerifySQL: "select true"})
	require.NoError(t, err)
	for _, s := range []Strategy{rv, ts, rs} {
		require.False(t, ActsPartially(s), s.Name())
		_, err := s.Act(context.Background(), testTarget, partial)
		require.ErrorIs(t, err, ErrRefused, s.Name())
		require.ErrorContains(t, err, "cannot roll back 50% only")
	}
	sh, err := NewShrink(nil, nil)
	require.NoError(t, err)
	require.True(t, ActsPartially(sh))
}
