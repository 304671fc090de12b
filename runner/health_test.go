package runner

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner/traffic"
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

// TestSLOChecksJudgeEachOnItsOwnEvidence replays the run: only the
// error rate is over its SLO after the fault; the p99 check must pass on
// its own figure and the error-rate check fail naming its own.
func TestSLOChecksJudgeEachOnItsOwnEvidence(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	injected := t0.Add(10 * time.Second)
	slo := drills.SLO{ErrorRate: ptr(0.01), P99: drills.D(500 * time.Millisecond),
		Window: drills.D(10 * time.Second), Stability: drills.D(15 * time.Second)}
	var h healthTracker
	for sec := 0; sec <= 60; sec++ {
		p := healthPoint{At: t0.Add(time.Duration(sec) * time.Second), OK: true, Requests: 200, ErrRate: 0.001, P99: 9 * time.Millisecond}
		if sec > 15 {
			p.OK, p.TrafficFailed, p.ErrFailed, p.ErrRate = false, true, true, 0.0932
		}
		h.add(p)
	}
	last := h.points[len(h.points)-1]
	var asked [][2]time.Time
	stats := func(from, to time.Time) traffic.Snapshot {
		asked = append(asked, [2]time.Time{from, to})
		return traffic.Snapshot{Requests: 9000, ErrorRate: 0.08, P99: 9 * time.Millisecond}
	}
	j := sloJudge{slo: slo, health: &h, injected: injected, last: last, stats: stats}

	errCheck := j.check(sloErrorRate)
	require.Equal(t, drills.VerdictFailed, errCheck.Verdict)
	require.Contains(t, errCheck.Observed, "(last: error rate 9.32% > 1.00%)")
	require.Equal(t, [2]time.Time{injected, last.At}, asked[0], "a failed check shows what was seen since the fault")

	p99 := j.check(sloP99)
	require.Equal(t, drills.VerdictPassed, p99.Verdict, p99.Observed)
	require.NotContains(t, p99.Observed, "error rate")
	require.Equal(t, "9ms over 9000 requests over 50s", p99.Observed)
	require.Equal(t, [2]time.Time{injected, last.At}, asked[1], "a check that held through the fault is judged from the injection on")
}

// TestSLOChecksWithoutRequestsAreInconclusive checks that an SLO window
// with no request is never a pass: neither while the SLO seems to hold nor
// when the traffic stopped.
func TestSLOChecksWithoutRequestsAreInconclusive(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	slo := drills.SLO{ErrorRate: ptr(0.01), P99: drills.D(500 * time.Millisecond),
		Window: drills.D(10 * time.Second), Stability: drills.D(5 * time.Second)}
	var h healthTracker
	for sec := 0; sec <= 20; sec++ {
		// Every window holds by its figures, but the last ones are empty.
		p := healthPoint{At: t0.Add(time.Duration(sec) * time.Second), OK: true, Requests: 100}
		if sec > 12 {
			p.OK, p.TrafficFailed, p.Requests = false, true, 0
		}
		h.add(p)
	}
	j := sloJudge{slo: slo, health: &h, injected: t0.Add(time.Second), last: h.points[len(h.points)-1],
		stats: func(time.Time, time.Time) traffic.Snapshot { return traffic.Snapshot{Requests: 0} }}
	for _, k := range []trafficSLO{sloErrorRate, sloP99} {
		c := j.check(k)
		require.Equal(t, drills.VerdictInconclusive, c.Verdict, c.Name)
		require.Contains(t, c.Observed, "no request finished in the last 10s SLO window")
	}

	// A streak long enough whose window has no request is inconclusive too.
	h = healthTracker{}
	for sec := 0; sec <= 20; sec++ {
		h.add(healthPoint{At: t0.Add(time.Duration(sec) * time.Second), OK: true, Requests: 1})
	}
	j.health, j.last = &h, h.points[len(h.points)-1]
	require.Equal(t, drills.VerdictInconclusive, j.check(sloErrorRate).Verdict)
}

func TestHealthySinceOfIsPerSLO(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var h healthTracker
	add := func(sec int, errFailed, p99Failed bool, requests int64) {
		h.add(healthPoint{At: t0.Add(time.Duration(sec) * time.Second), ErrFailed: errFailed, P99Failed: p99Failed, Requests: requests,
			OK: !errFailed && !p99Failed && requests > 0})
	}
	add(0, false, false, 10)
	add(1, false, true, 10)
	add(2, true, false, 10)
	add(3, false, false, 10)
	since, ok := h.healthySinceOf(sloErrorRate)
	require.True(t, ok)
	require.Equal(t, t0.Add(3*time.Second), since)
	since, ok = h.healthySinceOf(sloP99)
	require.True(t, ok)
	require.Equal(t, t0.Add(2*time.Second), since, "the error-rate breach does not break the p99 streak")
	add(4, false, false, 0)
	_, ok = h.healthySinceOf(sloP99)
	require.False(t, ok, "a window without requests is no evidence")
}

// TestRecoveryOnlyAfterAFullWindowAfterTheFault checks when observe may
// call the target recovered: never before the fault, and never before an
// SLO window that lies wholly after it.
func TestRecoveryOnlyAfterAFullWindowAfterTheFault(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	injected := t0.Add(30 * time.Second)
	d := &drills.Drill{Spec: drills.Spec{SLO: drills.SLO{Window: drills.D(10 * time.Second)}}}
	run := &Run{drill: d, injected: injected, gen: &traffic.Generator{}}
	at := func(sec int) time.Time { return injected.Add(time.Duration(sec) * time.Second) }

	require.False(t, run.judgedAfterFault(healthPoint{At: at(5)}), "the window still holds traffic from before the fault")
	require.True(t, run.judgedAfterFault(healthPoint{At: at(10)}))

	// Healthy all along (the engine's detection was the only impact): the
	// streak began in the baseline, the recovery is dated at the first full
	// window after the fault.
	for sec := -20; sec <= 12; sec++ {
		run.health.add(healthPoint{At: at(sec), OK: true, Requests: 10})
	}
	require.Equal(t, at(10), run.recoveredAt())

	// A breach after the fault: the recovery is the start of the streak
	// that followed it.
	run.health.add(healthPoint{At: at(13), OK: false, TrafficFailed: true, ErrFailed: true, Requests: 10})
	run.health.add(healthPoint{At: at(14), OK: true, Requests: 10})
	run.health.add(healthPoint{At: at(15), OK: true, Requests: 10})
	require.Equal(t, at(14), run.recoveredAt())

	// Without traffic only the fault bounds it.
	run.gen = nil
	require.False(t, run.judgedAfterFault(healthPoint{Now: injected.Add(-time.Second)}))
	require.True(t, run.judgedAfterFault(healthPoint{Now: injected}))
}

func ptr[T any](v T) *T { return &v }
