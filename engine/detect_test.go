package engine

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

func TestRuleTrackerStates(t *testing.T) {
	rule := drills.Rule{Name: "HighErrorRate", Op: drills.OpGT, Threshold: 0.05, For: drills.D(3 * time.Second)}
	tr := NewRuleTracker(rule, 10*time.Second)
	t0 := time.Unix(1000, 0)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

	steps := []struct {
		sec   int
		r     Reading
		state RuleState
	}{
		{0, Reading{Value: 0.01, At: at(0), Present: true}, RuleInactive},
		{1, Reading{Value: 0.2, At: at(1), Present: true}, RulePending},
		{2, Reading{Value: 0.2, At: at(2), Present: true}, RulePending},
		// Data goes missing mid-breach: HOLD, neither firing nor clearing.
		{3, Reading{Present: false}, RuleHold},
		// Fresh data confirms the breach that began at 1s: it fires.
		{4, Reading{Value: 0.3, At: at(4), Present: true}, RuleFiring},
		// Stale data: HOLD.
		{20, Reading{Value: 0.3, At: at(4), Present: true}, RuleHold},
		// Low traffic: HOLD.
		{21, Reading{Value: 1, At: at(21), Present: true, LowTraffic: true}, RuleHold},
		// Recovery clears the breach.
		{22, Reading{Value: 0.0, At: at(22), Present: true}, RuleInactive},
		{23, Reading{Value: 0.2, At: at(23), Present: true}, RulePending},
	}
	for _, s := range steps {
		st := tr.Update(at(s.sec), s.r)
		require.Equal(t, s.state, st.State, "at %ds: %s", s.sec, st.Reason)
		require.Equal(t, s.state, tr.State())
	}
}

func TestRuleWithoutForFiresAtOnce(t *testing.T) {
	tr := NewRuleTracker(drills.Rule{Name: "r", Op: drills.OpGE, Threshold: 1}, time.Second)
	now := time.Unix(0, 0)
	st := tr.Update(now, Reading{Value: 1, At: now, Present: true})
	require.Equal(t, RuleFiring, st.State)
	require.Equal(t, now, st.Since)
}
