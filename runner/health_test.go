package runner

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestHealthySinceAfterConsistencyFailure(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lag := 3 * time.Second
	pt := func(sec int, ok, traffic, cons bool) healthPoint {
		now := t0.Add(time.Duration(sec) * time.Second)
		return healthPoint{At: now.Add(-lag), Now: now, OK: ok, TrafficFailed: traffic, ConsFailed: cons}
	}
	var h healthTracker
	_, ok := h.healthySince()
	require.False(t, ok, "no points")

	h.add(pt(1, true, false, false))
	h.add(pt(2, false, false, true)) // the ledger breaks
	h.add(pt(3, false, false, true))
	_, ok = h.healthySince()
	require.False(t, ok, "the latest point fails")

	h.add(pt(4, true, false, false)) // repaired: seen at Now, not at the window's end
	h.add(pt(5, true, false, false))
	since, ok := h.healthySince()
	require.True(t, ok)
	require.Equal(t, t0.Add(4*time.Second), since)

	p, ok := h.firstBreachAfter(t0.Add(2 * time.Second))
	require.True(t, ok)
	require.Equal(t, t0.Add(2*time.Second), p.breachAt(), "a consistency breach dates from when the check failed")
	_, ok = h.firstBreachAfter(t0.Add(4 * time.Second))
	require.False(t, ok, "no breach after the repair")
}

func TestHealthySinceAfterTrafficFailure(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	lag := 3 * time.Second
	var h healthTracker
	for i, st := range []struct{ ok, traffic bool }{{true, false}, {false, true}, {false, true}, {true, false}, {true, false}} {
		now := t0.Add(time.Duration(i) * time.Second)
		h.add(healthPoint{At: now.Add(-lag), Now: now, OK: st.ok, TrafficFailed: st.traffic})
	}
	since, ok := h.healthySince()
	require.True(t, ok)
	require.Equal(t, t0.Add(3*time.Second-lag), since, "traffic recovery dates from the end of its window")
	p, ok := h.firstBreachAfter(t0.Add(-10 * time.Second))
	require.True(t, ok)
	require.Equal(t, t0.Add(1*time.Second-lag), p.breachAt())
}
