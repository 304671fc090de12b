package bench

import (
	"fmt"
	"math"
	"time"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
)

// Sequential is the guard's per-revision sequential test measured on its
// own: its false alarms per revision-hour on the healthy soak's revisions
// and its detection time at given error rates, both from the engine's own
// code path (engine.SequentialSignal inside engine.Guard).
type Sequential struct {
	// Test describes the test's settings (method, rates, alpha, beta,
	// minimum requests) and where they come from.
	Test string `json:"test,omitempty"`
	// FalseAlarms are the soak's false alarms, one per soaked policy.
	FalseAlarms []SequentialFalseAlarms `json:"falseAlarms,omitempty"`
	// Workload is where the detection time was measured, NoiseRate the
	// error rate of its clean revisions and MissBoundSeconds how long a
	// run waits for a detection before it counts as a miss.
	Workload         string  `json:"workload,omitempty"`
	NoiseRate        float64 `json:"noiseRate,omitempty"`
	MissBoundSeconds float64 `json:"missBound_s,omitempty"`
	// Detection is the detection time, one per error rate pushed.
	Detection []SequentialDetection `json:"detection,omitempty"`
}

// Revision is one revision of a noisy workload under the guard: when the
// benchmark pushed it and how long it was the live revision (the one the
// sequential test watches) while the engine guarded.
type Revision struct {
	// Token is the revision annotation that made it; Number is the
	// Deployment's revision number and Hash the pod-template-hash of its
	// ReplicaSet.
	Token  string `json:"token"`
	Number string `json:"revision,omitempty"`
	Hash   string `json:"podTemplateHash,omitempty"`
	// Pushed is when the Deployment took its pod template; RolledOut when
	// every replica ran it (zero if it never did).
	Pushed    time.Time `json:"pushed"`
	RolledOut time.Time `json:"rolledOut,omitzero"`
	// From and Until bound its exposure: from its push (or the guard's
	// start) to the next revision's push (or the guard's end);
	// LiveSeconds is their difference.
	From        time.Time `json:"from,omitzero"`
	Until       time.Time `json:"until,omitzero"`
	LiveSeconds float64   `json:"live_s"`
	// Detections are the engine's detections while it was live: on a
	// healthy workload, its false alarms.
	Detections int `json:"detections"`
}

// Expose sets the exposure of revs, in push order, under a guard that ran
// from from to to: a revision is live from its push until the next
// revision's push (the last one until to), clipped to [from, to]. It
// returns the revisions that were live at all, and their total exposure
// in revision-hours. The sequential test watches the newest revision from
// the moment its ReplicaSet exists, so a rollout counts for the revision
// it rolls to.
func Expose(revs []Revision, from, to time.Time) ([]Revision, float64) {
	var out []Revision
	var secs float64
	for i, r := range revs {
		start, end := r.Pushed, to
		if i+1 < len(revs) {
			end = revs[i+1].Pushed
		}
		if start.Before(from) {
			start = from
		}
		if end.After(to) {
			end = to
		}
		if !end.After(start) {
			continue
		}
		r.From, r.Until = start, end
		r.LiveSeconds = end.Sub(start).Seconds()
		secs += r.LiveSeconds
		out = append(out, r)
	}
	return out, secs / 3600
}

// SetRevisions records the revisions the soak rolled through, rolled every
// period (0: not rolled), under a guard that ran from from to to: their
// exposure (Expose) and, per revision, the detections among s.Events (set
// by CountSoak) while it was live.
func (s *Soak) SetRevisions(revs []Revision, period time.Duration, from, to time.Time) {
	s.Revisions, s.RevisionHours = Expose(revs, from, to)
	s.RevisionPeriodSeconds = period.Seconds()
	for i := range s.Revisions {
		r := &s.Revisions[i]
		r.Detections = 0
		for _, e := range s.Events {
			if engine.EventKind(e.Kind) == engine.EventDetection && !e.Time.Before(r.From) && e.Time.Before(r.Until) {
				r.Detections++
			}
		}
	}
}

// FalseAlarmRate is a count of false alarms over an exposure in
// revision-hours. Zero alarms over a small exposure is no rate, only a
// bound: the bound says how high the rate could be.
type FalseAlarmRate struct {
	// Count is the number of false alarms.
	Count int `json:"count"`
	// PerRevisionHour is Count over the exposure (nil without exposure).
	PerRevisionHour *float64 `json:"perRevisionHour"`
	// Upper95PerRevisionHour is the one-sided 95 % upper confidence bound
	// on the rate, Count taken as Poisson (PoissonUpper95 over the
	// exposure; nil without exposure).
	Upper95PerRevisionHour *float64 `json:"upper95PerRevisionHour"`
}

// NewFalseAlarmRate is count false alarms over revisionHours.
func NewFalseAlarmRate(count int, revisionHours float64) FalseAlarmRate {
	r := FalseAlarmRate{Count: count}
	if revisionHours > 0 {
		r.PerRevisionHour = ptr(float64(count) / revisionHours)
		r.Upper95PerRevisionHour = ptr(PoissonUpper95(count) / revisionHours)
	}
	return r
}

// PoissonUpper95 is the one-sided 95 % upper confidence bound on the mean
// of a Poisson count observed as k: the mean at which a count of k or less
// has a probability of 5 % (ln 20 ≈ 3.00 for k = 0, 4.74 for 1, 6.30 for
// 2).
func PoissonUpper95(k int) float64 {
	k = max(k, 0)
	// P(X ≤ k) for mean mu falls as mu grows: bisect for 0.05.
	cdf := func(mu float64) float64 {
		term := math.Exp(-mu)
		sum := term
		for i := 1; i <= k; i++ {
			term *= mu / float64(i)
			sum += term
		}
		return sum
	}
	lo, hi := 0.0, float64(k)+10+10*math.Sqrt(float64(k)+1)
	for range 100 {
		mid := (lo + hi) / 2
		if cdf(mid) > 0.05 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return (lo + hi) / 2
}

// SequentialFalseAlarms are one soaked policy's false alarms per
// revision-hour: every detection on the healthy soak is a false alarm, and
// the sequential test's are those whose evidence included it.
type SequentialFalseAlarms struct {
	// Policy is the drill file whose guard policy guarded the soak;
	// Workload the soaked Deployment and NoiseRate its error rate.
	Policy    string  `json:"policy"`
	Workload  string  `json:"workload"`
	NoiseRate float64 `json:"noiseRate"`
	// RevisionPeriodSeconds is how often the soak rolled to a fresh
	// revision (0: never).
	RevisionPeriodSeconds float64 `json:"revisionPeriod_s"`
	// Revisions is how many revisions were live under the guard and
	// RevisionHours their summed exposure.
	Revisions     int     `json:"revisions"`
	RevisionHours float64 `json:"revisionHours"`
	// Sequential are the false alarms attributable to the sequential test,
	// All every false alarm.
	Sequential FalseAlarmRate `json:"sequential"`
	All        FalseAlarmRate `json:"all"`
}

// SoakFalseAlarms are the false alarms per revision-hour of the soaks that
// recorded their revisions.
func SoakFalseAlarms(soaks []Soak) []SequentialFalseAlarms {
	var out []SequentialFalseAlarms
	for _, s := range soaks {
		if len(s.Revisions) == 0 {
			continue
		}
		out = append(out, SequentialFalseAlarms{
			Policy: s.Policy, Workload: s.Workload, NoiseRate: s.NoiseRate, RevisionPeriodSeconds: s.RevisionPeriodSeconds,
			Revisions: len(s.Revisions), RevisionHours: s.RevisionHours,
			Sequential: NewFalseAlarmRate(s.SequentialFalseAlarms, s.RevisionHours),
			All:        NewFalseAlarmRate(s.Detections, s.RevisionHours),
		})
	}
	return out
}

// SequentialRun is one push of a degraded revision in the sequential
// part: from a clean revision, a revision failing ErrorRate of requests.
type SequentialRun struct {
	// ErrorRate is the pushed revision's PAYMENT_FAULT_RATE.
	ErrorRate float64 `json:"errorRate"`
	// Pushed is when the Deployment took the degraded revision, Revision
	// its ReplicaSet's pod-template-hash.
	Pushed   time.Time `json:"pushed"`
	Revision string    `json:"revision,omitempty"`
	// BaselineRequests and BaselineErrorRate are the clean revision's
	// counts at the push, from which the test takes its baseline.
	BaselineRequests  float64 `json:"baselineRequests"`
	BaselineErrorRate float64 `json:"baselineErrorRate"`
	// DetectionSeconds is the push to the guard's first detection whose
	// evidence is the sequential test on the pushed revision (nil: a
	// miss); Evidence names that evidence.
	DetectionSeconds *float64 `json:"detection_s"`
	Evidence         string   `json:"evidence,omitempty"`
	// Strategy is the strategy the guard acted with first; ActionSeconds
	// is the push to the end of that action (a revert ends when its
	// rollout is done) and RecoverySeconds the push to the start of the
	// recovery the guard verified (every signal clear for its verify
	// window).
	Strategy        string   `json:"strategy,omitempty"`
	ActionSeconds   *float64 `json:"action_s,omitempty"`
	RecoverySeconds *float64 `json:"recovery_s,omitempty"`
	// Error says what went wrong in the run, a miss included.
	Error string `json:"error,omitempty"`
}

// SequentialDetection is the detection time at one error rate.
type SequentialDetection struct {
	// ErrorRate is the pushed revisions' error rate.
	ErrorRate float64 `json:"errorRate"`
	// Runs counts the pushes, Detected those the test detected within the
	// bound and Misses the others.
	Runs     int `json:"runs"`
	Detected int `json:"detected"`
	Misses   int `json:"misses"`
	// MedianSeconds, P90Seconds and MaxSeconds are nearest-rank
	// percentiles of the detection time over the detected runs.
	MedianSeconds *float64 `json:"median_s"`
	P90Seconds    *float64 `json:"p90_s"`
	MaxSeconds    *float64 `json:"max_s"`
	// Records are the runs.
	Records []SequentialRun `json:"run_records,omitempty"`
}

// SummarizeDetection summarises the runs at one error rate.
func SummarizeDetection(rate float64, runs []SequentialRun) SequentialDetection {
	d := SequentialDetection{ErrorRate: rate, Runs: len(runs), Records: runs}
	var xs []float64
	for _, r := range runs {
		if r.DetectionSeconds != nil {
			xs = append(xs, *r.DetectionSeconds)
		}
	}
	d.Detected, d.Misses = len(xs), len(runs)-len(xs)
	if v, ok := Percentile(xs, 50); ok {
		d.MedianSeconds = ptr(v)
	}
	if v, ok := Percentile(xs, 90); ok {
		d.P90Seconds = ptr(v)
	}
	if v, ok := Percentile(xs, 100); ok {
		d.MaxSeconds = ptr(v)
	}
	return d
}

// DescribeTest describes a statistical block, for Sequential.Test.
func DescribeTest(st *drills.Statistical) string {
	if st == nil {
		return ""
	}
	f := func(p *float64) string {
		if p == nil {
			return "default"
		}
		return fmt.Sprintf("%g", *p)
	}
	return fmt.Sprintf("%s, baselineErrorRate %s, detectErrorRate %s, falseAlarmRate %s, missRate %s, minRequests %d",
		st.Method, f(st.BaselineErrorRate), f(st.DetectErrorRate), f(st.FalseAlarmRate), f(st.MissRate), st.MinRequests)
}
