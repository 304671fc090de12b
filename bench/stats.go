package bench

import (
	"math"
	"slices"

	"github.com/firedrill/firedrill/drills"
)

// Percentile returns the p-th percentile (0 < p ≤ 100) of xs by the
// nearest-rank method: the smallest value that at least p % of the values
// are less than or equal to, always one of the measured values. It returns
// false for no values.
func Percentile(xs []float64, p float64) (float64, bool) {
	if len(xs) == 0 || p <= 0 || p > 100 {
		return 0, false
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	rank = max(1, min(rank, len(s)))
	return s[rank-1], true
}

// Dist is the p50, p95 and maximum of a set of durations in seconds, over
// N values; nil fields mean there was no value.
type Dist struct {
	N   int      `json:"n"`
	P50 *float64 `json:"p50_s"`
	P95 *float64 `json:"p95_s"`
	Max *float64 `json:"max_s"`
}

// NewDist summarises xs (seconds).
func NewDist(xs []float64) Dist {
	d := Dist{N: len(xs)}
	if v, ok := Percentile(xs, 50); ok {
		d.P50 = ptr(v)
	}
	if v, ok := Percentile(xs, 95); ok {
		d.P95 = ptr(v)
	}
	if v, ok := Percentile(xs, 100); ok {
		d.Max = ptr(v)
	}
	return d
}

func ptr[T any](v T) *T { return &v }

// RunRecord is one drill run as the benchmark keeps it: the verdict, MTTD
// and MTTR as the runner measured them, and how long each phase took.
type RunRecord struct {
	RunID   string `json:"runID"`
	Verdict string `json:"verdict"`
	Reason  string `json:"reason,omitempty"`
	// MTTDSeconds and MTTRSeconds are nil when the runner measured none.
	MTTDSeconds *float64 `json:"mttd_s,omitempty"`
	MTTRSeconds *float64 `json:"mttr_s,omitempty"`
	// RolledBack says whether the engine acted with a strategy other than
	// handing over to a human.
	RolledBack bool `json:"rolledBack"`
	// WallSeconds is the run from start to finish; PhaseSeconds each
	// phase's duration.
	WallSeconds  float64            `json:"wall_s"`
	PhaseSeconds map[string]float64 `json:"phases_s"`
}

// Record turns a runner result into a RunRecord.
func Record(r *drills.Result) RunRecord {
	rec := RunRecord{RunID: r.RunID, Verdict: string(r.Verdict), Reason: r.Reason, PhaseSeconds: map[string]float64{}}
	if r.MTTD != nil {
		rec.MTTDSeconds = ptr(r.MTTD.Seconds())
	}
	if r.MTTR != nil {
		rec.MTTRSeconds = ptr(r.MTTR.Seconds())
	}
	if !r.Finished.IsZero() {
		rec.WallSeconds = r.Finished.Sub(r.Started).Seconds()
	}
	for _, p := range r.Phases {
		rec.PhaseSeconds[p.Name] += p.Duration.Seconds()
	}
	for _, e := range r.Events {
		st := e.Attributes["strategy"]
		if e.Kind == drills.EventAction && st != "" && st != string(drills.StrategyHuman) && e.Attributes["error"] == "" {
			rec.RolledBack = true
		}
	}
	return rec
}

// OverheadPhases are the runner phases that are the drill's own cost, not
// the fault's: everything but observe and verify, which wait on the fault,
// the engine and the recovery.
var OverheadPhases = []string{"preflight", "baseline", "inject", "teardown"}

// Overhead is the seconds a run spent in OverheadPhases.
func (r RunRecord) Overhead() float64 {
	var s float64
	for _, p := range OverheadPhases {
		s += r.PhaseSeconds[p]
	}
	return s
}

// Scenario is one row of the results: a drill run Runs times (or a peer's
// measurement, or the healthy soak) with its MTTD and MTTR distributions.
type Scenario struct {
	// Name names the row; Drill and Source the drill that ran.
	Name   string `json:"scenario"`
	Drill  string `json:"drill,omitempty"`
	Source string `json:"source,omitempty"`
	// Guard is who guarded the target: "firedrill" or a peer with its
	// setting.
	Guard string `json:"guard"`
	// Runs and Passed count the runs and those whose verdict passed
	// (automatic rollback success for drills that expect a rollback).
	Runs   int `json:"runs"`
	Passed int `json:"passed"`
	// SuccessRate is Passed/Runs (nil without runs).
	SuccessRate *float64 `json:"success_rate"`
	// MTTD and MTTR are fault injected → first detection and → SLOs back
	// and stable, over the runs that measured them.
	MTTDP50 *float64 `json:"mttd_p50_s"`
	MTTDP95 *float64 `json:"mttd_p95_s"`
	MTTDMax *float64 `json:"mttd_max_s"`
	MTTRP50 *float64 `json:"mttr_p50_s"`
	MTTRP95 *float64 `json:"mttr_p95_s"`
	MTTRMax *float64 `json:"mttr_max_s"`
	// FalseRollbacks is set for the healthy soak only.
	FalseRollbacks *int `json:"false_rollbacks,omitempty"`
	// WallP50 is the median run from start to finish, OverheadP50 the
	// median time in OverheadPhases.
	WallP50     *float64 `json:"wall_p50_s,omitempty"`
	OverheadP50 *float64 `json:"overhead_p50_s,omitempty"`
	// PhaseP50 is each phase's median duration.
	PhaseP50 map[string]float64 `json:"phase_p50_s,omitempty"`
	// Note says what differs from the shipped drill or how it was measured.
	Note string `json:"note,omitempty"`
	// Records are the runs.
	Records []RunRecord `json:"run_records,omitempty"`
}

// Summarize builds a drill's Scenario row from its runs.
func Summarize(name, guard string, d *drills.Drill, recs []RunRecord) Scenario {
	s := Scenario{Name: name, Guard: guard, Runs: len(recs), Records: recs}
	if d != nil {
		s.Drill, s.Source = d.Metadata.Name, d.Source()
	}
	var mttd, mttr, wall, over []float64
	phases := map[string][]float64{}
	for _, r := range recs {
		if r.Verdict == string(drills.VerdictPassed) {
			s.Passed++
		}
		if r.MTTDSeconds != nil {
			mttd = append(mttd, *r.MTTDSeconds)
		}
		if r.MTTRSeconds != nil {
			mttr = append(mttr, *r.MTTRSeconds)
		}
		if r.WallSeconds > 0 {
			wall = append(wall, r.WallSeconds)
			over = append(over, r.Overhead())
		}
		for p, v := range r.PhaseSeconds {
			phases[p] = append(phases[p], v)
		}
	}
	if s.Runs > 0 {
		s.SuccessRate = ptr(float64(s.Passed) / float64(s.Runs))
	}
	s.setMTTD(NewDist(mttd))
	s.setMTTR(NewDist(mttr))
	if v, ok := Percentile(wall, 50); ok {
		s.WallP50 = ptr(v)
	}
	if v, ok := Percentile(over, 50); ok {
		s.OverheadP50 = ptr(v)
	}
	if len(phases) > 0 {
		s.PhaseP50 = map[string]float64{}
		for p, xs := range phases {
			s.PhaseP50[p], _ = Percentile(xs, 50)
		}
	}
	return s
}

func (s *Scenario) setMTTD(d Dist) { s.MTTDP50, s.MTTDP95, s.MTTDMax = d.P50, d.P95, d.Max }
func (s *Scenario) setMTTR(d Dist) { s.MTTRP50, s.MTTRP95, s.MTTRMax = d.P50, d.P95, d.Max }

// PeerScenario turns a peer's measurements (e.g. one Argo Rollouts
// setting) into a row: a run succeeds when the peer detected the bad
// release and the service recovered.
func PeerScenario(name, guard string, rs []PeerResult) Scenario {
	s := Scenario{Name: name, Guard: guard, Runs: len(rs)}
	var mttd, mttr []float64
	for _, r := range rs {
		if r.Detected && r.Recovered {
			s.Passed++
		}
		if r.Detected {
			mttd = append(mttd, r.MTTD.Seconds())
		}
		if r.Recovered {
			mttr = append(mttr, r.MTTR.Seconds())
		}
	}
	if s.Runs > 0 {
		s.SuccessRate = ptr(float64(s.Passed) / float64(s.Runs))
	}
	s.setMTTD(NewDist(mttd))
	s.setMTTR(NewDist(mttr))
	return s
}
