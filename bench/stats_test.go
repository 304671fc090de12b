package bench

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

func TestPercentile(t *testing.T) {
	twenty := make([]float64, 20)
	for i := range twenty {
		twenty[i] = float64(20 - i) // 20..1, unsorted
	}
	for _, tc := range []struct {
		name string
		xs   []float64
		p    float64
		want float64
		ok   bool
	}{
		{"empty", nil, 50, 0, false},
		{"p out of range low", []float64{1}, 0, 0, false},
		{"p out of range high", []float64{1}, 101, 0, false},
		{"one value", []float64{7}, 95, 7, true},
		{"median of odd", []float64{3, 1, 2}, 50, 2, true},
		{"median of even is the lower", []float64{4, 1, 3, 2}, 50, 2, true},
		{"p50 of 20", twenty, 50, 10, true},
		{"p95 of 20 is the 19th", twenty, 95, 19, true},
		{"max", twenty, 100, 20, true},
		{"p95 of 3 is the max", []float64{8, 9, 30}, 95, 30, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := append([]float64(nil), tc.xs...)
			got, ok := Percentile(tc.xs, tc.p)
			require.Equal(t, tc.ok, ok)
			require.Equal(t, tc.want, got)
			require.Equal(t, in, tc.xs, "the input is not reordered")
		})
	}
}

func result(verdict drills.Verdict, mttd, mttr time.Duration, rolled bool) *drills.Result {
	start := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	r := &drills.Result{RunID: "r", Verdict: verdict, Started: start, Finished: start.Add(60 * time.Second),
		Phases: []drills.PhaseResult{
			{Name: "preflight", Duration: drills.Duration{Duration: time.Second}},
			{Name: "baseline", Duration: drills.Duration{Duration: 12 * time.Second}},
			{Name: "inject", Duration: drills.Duration{Duration: time.Second}},
			{Name: "observe", Duration: drills.Duration{Duration: 20 * time.Second}},
			{Name: "verify", Duration: drills.Duration{Duration: 16 * time.Second}},
			{Name: "teardown", Duration: drills.Duration{Duration: 10 * time.Second}},
		}}
	if mttd > 0 {
		r.MTTD = &drills.Duration{Duration: mttd}
	}
	if mttr > 0 {
		r.MTTR = &drills.Duration{Duration: mttr}
	}
	if rolled {
		r.Events = append(r.Events, drills.Event{Kind: drills.EventAction, Attributes: map[string]string{"strategy": "revert"}})
	}
	r.Events = append(r.Events,
		drills.Event{Kind: drills.EventAction, Attributes: map[string]string{"strategy": "human"}},
		drills.Event{Kind: drills.EventAction, Attributes: map[string]string{"strategy": "revert", "error": "no revision"}})
	return r
}

func TestRecordAndSummarize(t *testing.T) {
	rec := Record(result(drills.VerdictPassed, 8*time.Second, 22*time.Second, true))
	require.Equal(t, "passed", rec.Verdict)
	require.InDelta(t, 8, *rec.MTTDSeconds, 1e-9)
	require.InDelta(t, 22, *rec.MTTRSeconds, 1e-9)
	require.True(t, rec.RolledBack)
	require.InDelta(t, 60, rec.WallSeconds, 1e-9)
	require.InDelta(t, 24, rec.Overhead(), 1e-9, "preflight+baseline+inject+teardown")

	norb := Record(result(drills.VerdictPassed, 0, 0, false))
	require.False(t, norb.RolledBack, "a human hand-over or a failed revert is no rollback")
	require.Nil(t, norb.MTTDSeconds)

	var recs []RunRecord
	for i := range 20 {
		v := drills.VerdictPassed
		if i == 0 {
			v = drills.VerdictFailed
		}
		recs = append(recs, Record(result(v, time.Duration(i+1)*time.Second, time.Duration(i+21)*time.Second, true)))
	}
	recs = append(recs, Record(result(drills.VerdictFailed, 0, 0, false)))
	d := &drills.Drill{Metadata: drills.Metadata{Name: "bad-image"}}
	s := Summarize("bad image", "firedrill", d, recs)
	require.Equal(t, "bad-image", s.Drill)
	require.Equal(t, 21, s.Runs)
	require.Equal(t, 19, s.Passed)
	require.InDelta(t, 19.0/21, *s.SuccessRate, 1e-9)
	require.Equal(t, 10.0, *s.MTTDP50, "over the 20 runs that measured it")
	require.Equal(t, 19.0, *s.MTTDP95)
	require.Equal(t, 20.0, *s.MTTDMax)
	require.Equal(t, 30.0, *s.MTTRP50)
	require.Equal(t, 39.0, *s.MTTRP95)
	require.Equal(t, 40.0, *s.MTTRMax)
	require.Equal(t, 24.0, *s.OverheadP50)
	require.Equal(t, 12.0, s.PhaseP50["baseline"])
	require.Nil(t, s.FalseRollbacks)

	empty := Summarize("none", "firedrill", nil, nil)
	require.Nil(t, empty.SuccessRate)
	require.Nil(t, empty.MTTDP50)
}

func TestPeerScenario(t *testing.T) {
	s := PeerScenario("argo", "Argo Rollouts", []PeerResult{
		{Detected: true, Recovered: true, MTTD: drills.Duration{Duration: 90 * time.Second}, MTTR: drills.Duration{Duration: 120 * time.Second}},
		{Detected: true, MTTD: drills.Duration{Duration: 30 * time.Second}},
	})
	require.Equal(t, 2, s.Runs)
	require.Equal(t, 1, s.Passed)
	require.Equal(t, 0.5, *s.SuccessRate)
	require.Equal(t, 30.0, *s.MTTDP50)
	require.Equal(t, 90.0, *s.MTTDMax)
	require.Equal(t, 120.0, *s.MTTRP50)
}
