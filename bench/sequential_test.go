package bench

import (
	"encoding/json"
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) time.Time { return t0.Add(d) }

func TestExpose(t *testing.T) {
	revs := []Revision{
		{Token: "2", Pushed: at(-time.Minute)}, // pushed before the guard started
		{Token: "3", Pushed: at(2 * time.Minute)},
		{Token: "4", Pushed: at(4 * time.Minute)},
		{Token: "5", Pushed: at(6 * time.Minute)},
		{Token: "6", Pushed: at(8 * time.Minute)},
	}
	got, hours := Expose(revs, at(0), at(10*time.Minute))
	require.Len(t, got, 5)
	require.InDelta(t, 10.0/60, hours, 1e-12, "ten minutes of guarding is 1/6 revision-hour")
	require.Equal(t, at(0), got[0].From, "clipped to the guard's start")
	require.Equal(t, at(2*time.Minute), got[0].Until)
	require.InDelta(t, 120, got[0].LiveSeconds, 1e-9)
	require.Equal(t, at(10*time.Minute), got[4].Until, "the last revision is live until the guard stops")
	require.InDelta(t, 120, got[4].LiveSeconds, 1e-9)
	require.True(t, revs[0].From.IsZero(), "the input is not changed")

	// Revisions outside the guarded time are not exposed at all.
	got, hours = Expose([]Revision{
		{Token: "a", Pushed: at(-2 * time.Minute)},
		{Token: "b", Pushed: at(-time.Minute)},
		{Token: "c", Pushed: at(30 * time.Second)},
		{Token: "d", Pushed: at(2 * time.Minute)},
	}, at(0), at(90*time.Second))
	require.Len(t, got, 2)
	require.Equal(t, []string{"b", "c"}, []string{got[0].Token, got[1].Token})
	require.InDelta(t, 1.5/60, hours, 1e-12)

	got, hours = Expose(nil, at(0), at(time.Minute))
	require.Empty(t, got)
	require.Zero(t, hours)
}

func TestSoakSetRevisions(t *testing.T) {
	s := Soak{Events: []SoakEvent{
		{Time: at(30 * time.Second), Kind: "detection", Incident: "i1"},
		{Time: at(31 * time.Second), Kind: "decision", Incident: "i1"},
		{Time: at(2 * time.Minute), Kind: "detection", Incident: "i2"}, // the second revision's first instant
		{Time: at(5 * time.Minute), Kind: "detection", Incident: "i3"}, // after the guard stopped
	}}
	s.SetRevisions([]Revision{{Token: "2", Pushed: at(-time.Minute)}, {Token: "3", Pushed: at(2 * time.Minute)}},
		2*time.Minute, at(0), at(4*time.Minute))
	require.Equal(t, 120.0, s.RevisionPeriodSeconds)
	require.InDelta(t, 4.0/60, s.RevisionHours, 1e-12)
	require.Len(t, s.Revisions, 2)
	require.Equal(t, 1, s.Revisions[0].Detections)
	require.Equal(t, 1, s.Revisions[1].Detections)
}

func TestPoissonUpper95(t *testing.T) {
	for k, want := range map[int]float64{0: math.Log(20), 1: 4.7439, 2: 6.2958, 5: 10.5130, 10: 16.9622} {
		require.InDelta(t, want, PoissonUpper95(k), 1e-3, "k=%d", k)
	}
	require.Equal(t, PoissonUpper95(0), PoissonUpper95(-1))
}

func TestNewFalseAlarmRate(t *testing.T) {
	r := NewFalseAlarmRate(0, 1.0/6)
	require.Equal(t, 0, r.Count)
	require.NotNil(t, r.PerRevisionHour)
	require.Zero(t, *r.PerRevisionHour)
	require.InDelta(t, 6*math.Log(20), *r.Upper95PerRevisionHour, 1e-6, "0 in 10 minutes: up to ~18 per revision-hour")

	r = NewFalseAlarmRate(2, 4)
	require.InDelta(t, 0.5, *r.PerRevisionHour, 1e-12)
	require.InDelta(t, 6.2958/4, *r.Upper95PerRevisionHour, 1e-3)

	r = NewFalseAlarmRate(1, 0)
	require.Nil(t, r.PerRevisionHour, "no exposure, no rate")
	require.Nil(t, r.Upper95PerRevisionHour)
}

func TestSoakFalseAlarms(t *testing.T) {
	soaks := []Soak{
		{Policy: "drills/examples/bad-image.yaml", Workload: "firedrill-demo/payment-soak", NoiseRate: 0.005, RevisionPeriodSeconds: 120,
			Revisions: make([]Revision, 5), RevisionHours: 0.5, Detections: 3, SequentialFalseAlarms: 1},
		{Policy: "unrolled"},
	}
	got := SoakFalseAlarms(soaks)
	require.Len(t, got, 1, "only soaks that recorded their revisions")
	f := got[0]
	require.Equal(t, 5, f.Revisions)
	require.Equal(t, 1, f.Sequential.Count)
	require.InDelta(t, 2, *f.Sequential.PerRevisionHour, 1e-12)
	require.Equal(t, 3, f.All.Count)
	require.InDelta(t, 6, *f.All.PerRevisionHour, 1e-12)
}

func TestSummarizeDetection(t *testing.T) {
	var runs []SequentialRun
	for _, s := range []float64{12, 4, 30, 8, 20, 16, 6, 10, 14} {
		runs = append(runs, SequentialRun{ErrorRate: 0.02, DetectionSeconds: ptr(s)})
	}
	runs = append(runs, SequentialRun{ErrorRate: 0.02, Error: "no detection within 3m0s"})
	d := SummarizeDetection(0.02, runs)
	require.Equal(t, 10, d.Runs)
	require.Equal(t, 9, d.Detected)
	require.Equal(t, 1, d.Misses)
	// Nearest rank over the 9 detected: p50 is the 5th smallest, p90 the
	// ceil(8.1) = 9th; a miss is not a value.
	require.Equal(t, 12.0, *d.MedianSeconds)
	require.Equal(t, 30.0, *d.P90Seconds)
	require.Equal(t, 30.0, *d.MaxSeconds)
	require.Len(t, d.Records, 10)

	none := SummarizeDetection(0.05, []SequentialRun{{ErrorRate: 0.05}})
	require.Equal(t, 1, none.Misses)
	require.Nil(t, none.MedianSeconds)
	require.Nil(t, none.P90Seconds)
}

func TestDescribeTest(t *testing.T) {
	d := drills.Drill{Spec: drills.Spec{Guard: &drills.Guard{Statistical: &drills.Statistical{
		Method: drills.MethodSPRT, BaselineErrorRate: ptr(0.005), DetectErrorRate: ptr(0.05), FalseAlarmRate: ptr(0.0001), MinRequests: 20,
	}}}}
	d.Default()
	require.Equal(t, "sprt, baselineErrorRate 0.005, detectErrorRate 0.05, falseAlarmRate 0.0001, missRate 0.01, minRequests 20",
		DescribeTest(d.Spec.Guard.Statistical))
	require.Empty(t, DescribeTest(nil))
}

func TestSoakEventEvidenceKinds(t *testing.T) {
	seq := engine.Evidence{Kind: engine.EvidenceSequential, Source: "sprt(revision abc)"}
	rule := engine.Evidence{Kind: engine.EvidenceRule, Source: "HighErrorRate"}
	det := soakEvent(engine.Event{Kind: engine.EventDetection, Incident: "i1", Evidence: []engine.Evidence{rule, seq, rule}})
	require.Equal(t, []string{"HighErrorRate", "sprt(revision abc)", "HighErrorRate"}, det.Evidence, "sources as before")
	require.Equal(t, []string{"rule", "sequential"}, det.EvidenceKinds)
	dec := soakEvent(engine.Event{Kind: engine.EventDecision, Incident: "i1", Decision: &engine.Decision{Action: engine.ActionRequireHuman, Evidence: []engine.Evidence{seq}}})
	require.Empty(t, dec.Evidence)
	require.Equal(t, []string{"sequential"}, dec.EvidenceKinds, "a decision's evidence")
	act := soakEvent(engine.Event{Kind: engine.EventAction, Incident: "i1", Strategy: drills.StrategyHuman, Err: errors.New("x"),
		Decision: &engine.Decision{Evidence: []engine.Evidence{seq}}})
	require.Empty(t, act.EvidenceKinds)
	require.Equal(t, "x", act.Error)
}

func TestCountSoakSequential(t *testing.T) {
	var s Soak
	CountSoak(&s, []SoakEvent{
		{Kind: "detection", Incident: "i1", EvidenceKinds: []string{"sequential"}},
		{Kind: "decision", Incident: "i1", EvidenceKinds: []string{"sequential"}, Action: "require-human", Strategy: "human"},
		{Kind: "detection", Incident: "i2", EvidenceKinds: []string{"rule"}},
		{Kind: "decision", Incident: "i2", EvidenceKinds: []string{"rule", "sequential"}, Action: "require-human", Strategy: "human"},
		{Kind: "detection", Incident: "i3", EvidenceKinds: []string{"kubernetes"}},
	})
	require.Equal(t, 3, s.Detections)
	require.Equal(t, 2, s.SequentialFalseAlarms, "i1 at its detection, i2 at its decision; i1 once")
	require.Zero(t, s.FalseRollbacks)
}

func sampleSequential() *Sequential {
	soak := Soak{Policy: "drills/examples/bad-image.yaml", Workload: "firedrill-demo/payment-soak", NoiseRate: 0.005,
		RevisionPeriodSeconds: 120, Revisions: make([]Revision, 5), RevisionHours: 1.0 / 6}
	return &Sequential{
		Test:        "the statistical block of drills/examples/bad-image.yaml: sprt, baselineErrorRate 0.005, detectErrorRate 0.05, falseAlarmRate 0.0001, missRate 0.01, minRequests 20",
		FalseAlarms: SoakFalseAlarms([]Soak{soak}),
		Workload:    "firedrill-demo/payment-seq", NoiseRate: 0.005, MissBoundSeconds: 180,
		Detection: []SequentialDetection{
			SummarizeDetection(0.02, []SequentialRun{{DetectionSeconds: ptr(23.0)}, {DetectionSeconds: ptr(41.5)}, {Error: "missed"}}),
			SummarizeDetection(0.05, []SequentialRun{{DetectionSeconds: ptr(4.0)}, {DetectionSeconds: ptr(6.0)}}),
		},
	}
}

func TestSequentialMarkdown(t *testing.T) {
	r := sampleResults()
	r.Soaks[0].RevisionPeriodSeconds = 120
	r.Soaks[0].Revisions = make([]Revision, 5)
	r.Soaks[0].RevisionHours = 1.0 / 6
	r.Sequential = sampleSequential()
	var b strings.Builder
	require.NoError(t, r.Markdown(&b))
	md := b.String()
	for _, want := range []string{
		"It rolled the workload to a fresh revision every 2m0s: 5 revisions were live under the guard, 0.167 revision-hours in all; 0 of the incidents had the sequential test in their evidence.",
		"## Sequential test\n\nThe guard's per-revision sequential test (the statistical block of drills/examples/bad-image.yaml: sprt, baselineErrorRate 0.005,",
		"one-sided 95 % Poisson upper bound (3.0 / exposure when nothing fired)",
		"| drills/examples/bad-image.yaml | 0.5 % | 2m0s | 5 | 0.167 | 0 | 0.00 (≤ 17.97) | 0 | 0.00 (≤ 17.97) |",
		"Detection time on `firedrill-demo/payment-seq`: from a fresh clean revision (0.5 % errors)",
		"a miss is none within 3m0s",
		"| 2 % | 3 | 2 | 1 | 23.0 | 41.5 | 41.5 |",
		"| 5 % | 2 | 2 | 0 | 4.0 | 6.0 | 6.0 |",
	} {
		require.Contains(t, md, want)
	}
	require.Less(t, strings.Index(md, "## Healthy soak"), strings.Index(md, "## Sequential test"))
	require.Less(t, strings.Index(md, "## Sequential test"), strings.Index(md, "## Resources"))

	// Without the section nothing of it is rendered.
	b.Reset()
	require.NoError(t, sampleResults().Markdown(&b))
	require.NotContains(t, b.String(), "Sequential test")
	require.NotContains(t, b.String(), "revision-hours")

	// Detection only, false alarms only.
	q := sampleSequential()
	q.FalseAlarms = nil
	r.Sequential = q
	b.Reset()
	require.NoError(t, r.Markdown(&b))
	require.NotContains(t, b.String(), "Poisson")
	require.Contains(t, b.String(), "| 5 % | 2 | 2 | 0 |")
}

func TestSequentialJSON(t *testing.T) {
	r := sampleResults()
	r.Sequential = sampleSequential()
	b, err := json.Marshal(r)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	seq := m["sequential"].(map[string]any)
	fa := seq["falseAlarms"].([]any)[0].(map[string]any)
	require.InDelta(t, 1.0/6, fa["revisionHours"], 1e-12)
	require.EqualValues(t, 5, fa["revisions"])
	sq := fa["sequential"].(map[string]any)
	require.EqualValues(t, 0, sq["count"])
	require.EqualValues(t, 0, sq["perRevisionHour"])
	require.InDelta(t, 6*math.Log(20), sq["upper95PerRevisionHour"], 1e-6)
	det := seq["detection"].([]any)[0].(map[string]any)
	for _, k := range []string{"errorRate", "runs", "detected", "misses", "median_s", "p90_s", "max_s"} {
		require.Contains(t, det, k)
	}
	require.InDelta(t, 23.0, det["median_s"], 1e-12)
	miss := det["run_records"].([]any)[2].(map[string]any)
	require.Contains(t, miss, "detection_s")
	require.Nil(t, miss["detection_s"], "a miss has no detection time, not 0")

	// Results without the section have no key.
	b, err = json.Marshal(sampleResults())
	require.NoError(t, err)
	require.NotContains(t, string(b), `"sequential"`)
}
