package runner

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
)

// Bounds of what coverage keeps per unit, so that a long or flapping run
// stays small in the result.
const (
	// maxStateRuns caps the state runs of a unit (the HTML strip).
	maxStateRuns = 500
	// maxReasonKeys caps the distinct hold reasons counted per bucket;
	// further ones are counted under otherReasons.
	maxReasonKeys = 32
	// topHoldReasons is how many hold reasons a bucket reports.
	topHoldReasons = 5
	otherReasons   = "(other reasons)"
)

// coverage accumulates, per signal unit of the engine, what its
// evaluations amounted to (clear, firing, held and why), per phase bucket
// (baseline, inject+observe), and the stretches of each state over the
// whole run. The engine's OnObserve callback feeds it from the engine's
// goroutine; the runner reads it from its own.
type coverage struct {
	mu     sync.Mutex
	evals  int
	units  []*unitCoverage // in the order first seen
	byName map[string]*unitCoverage
}

// unitCoverage is what coverage knows of one unit.
type unitCoverage struct {
	name      string
	real      int // clear or firing evaluations over the whole run
	reasons   reasonCounts
	buckets   map[string]*bucketCoverage
	runs      []drills.StateRun
	truncated bool
}

// bucketCoverage counts a unit's evaluations in one phase bucket.
type bucketCoverage struct {
	evals, held, firing int
	reasons             reasonCounts
	first, last         time.Time // real evaluations
}

// reasonCounts counts hold reasons, keyed by the reason with its numbers
// blanked (a stale-data reason names the sample's age), reporting the
// latest wording of each.
type reasonCounts struct {
	keys  []string
	count map[string]int
	text  map[string]string
}

func (r *reasonCounts) add(reason string) {
	if r.count == nil {
		r.count, r.text = map[string]int{}, map[string]string{}
	}
	key := reasonKey(reason)
	if _, ok := r.count[key]; !ok {
		if len(r.keys) >= maxReasonKeys {
			key, reason = otherReasons, otherReasons
		}
		if _, ok := r.count[key]; !ok {
			r.keys = append(r.keys, key)
		}
	}
	r.count[key]++
	r.text[key] = reason
}

// top returns the n most frequent reasons, most frequent first (ties in
// the order first seen).
func (r *reasonCounts) top(n int) []drills.HoldReason {
	out := make([]drills.HoldReason, 0, len(r.keys))
	for _, k := range r.keys {
		out = append(out, drills.HoldReason{Reason: r.text[k], Count: r.count[k]})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Count > out[j].Count })
	if len(out) > n {
		out = out[:n]
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// reasonKey blanks the digits of a reason so that "stale data: newest
// sample is 12.5s old" and "… 13.1s old" count as one reason.
func reasonKey(reason string) string {
	var b strings.Builder
	digits := false
	for _, c := range reason {
		if c >= '0' && c <= '9' || digits && c == '.' {
			if !digits {
				b.WriteByte('#')
			}
			digits = true
			continue
		}
		digits = false
		b.WriteRune(c)
	}
	return b.String()
}

func newCoverage() *coverage { return &coverage{byName: map[string]*unitCoverage{}} }

// bucketOf maps a runner phase to its coverage bucket ("" for phases that
// are not counted: the engine is still running in verify and teardown).
func bucketOf(phase string) string {
	switch phase {
	case phaseBaseline:
		return drills.CoverageBaseline
	case phaseInject, phaseObserve:
		return drills.CoverageFault
	}
	return ""
}

// observe records one evaluation of the engine at now, during phase.
func (c *coverage) observe(now time.Time, phase string, units []engine.UnitReport) {
	bucket := bucketOf(phase)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evals++
	for _, u := range units {
		uc := c.byName[u.Name]
		if uc == nil {
			uc = &unitCoverage{name: u.Name, buckets: map[string]*bucketCoverage{}}
			c.byName[u.Name] = uc
			c.units = append(c.units, uc)
		}
		state := stateOf(u.State)
		if state == drills.UnitHeld {
			uc.reasons.add(u.Reason)
		} else {
			uc.real++
		}
		if bucket != "" {
			b := uc.buckets[bucket]
			if b == nil {
				b = &bucketCoverage{}
				uc.buckets[bucket] = b
			}
			b.evals++
			switch state {
			case drills.UnitHeld:
				b.held++
				b.reasons.add(u.Reason)
			case drills.UnitFiring:
				b.firing++
			}
			if state != drills.UnitHeld {
				if b.first.IsZero() {
					b.first = now
				}
				b.last = now
			}
		}
		uc.addRun(now, state)
	}
}

// addRun extends the unit's current state run or starts a new one.
func (uc *unitCoverage) addRun(now time.Time, state drills.UnitState) {
	if uc.truncated {
		return
	}
	if n := len(uc.runs); n > 0 {
		last := &uc.runs[n-1]
		last.End = now
		if last.State == state {
			return
		}
		if n >= maxStateRuns {
			uc.truncated = true
			return
		}
	}
	uc.runs = append(uc.runs, drills.StateRun{Start: now, End: now, State: state})
}

// stateOf maps the engine's unit state to the result's.
func stateOf(s engine.UnitState) drills.UnitState {
	switch s {
	case engine.UnitFiring:
		return drills.UnitFiring
	case engine.UnitHeld:
		return drills.UnitHeld
	}
	return drills.UnitClear
}

// ready reports whether the engine evaluated at least once and every unit
// evaluated for real (not held) at least n times; if not, why names the
// units that did not, with their most frequent hold reason.
func (c *coverage) ready(n int) (ok bool, why string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.evals == 0 {
		return false, ""
	}
	var missing []string
	for _, uc := range c.units {
		if uc.real >= n {
			continue
		}
		reason := fmt.Sprintf("evaluated %d of %d times", uc.real, n)
		if top := uc.reasons.top(1); len(top) > 0 {
			reason = top[0].Reason
		}
		missing = append(missing, uc.name+": "+reason)
	}
	return len(missing) == 0, strings.Join(missing, "; ")
}

// result returns the coverage as the result's plain data.
func (c *coverage) result() []drills.SignalCoverage {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]drills.SignalCoverage, 0, len(c.units))
	for _, uc := range c.units {
		sc := drills.SignalCoverage{Unit: uc.name, RunsTruncated: uc.truncated}
		sc.Runs = append(sc.Runs, uc.runs...)
		for _, name := range []string{drills.CoverageBaseline, drills.CoverageFault} {
			b := uc.buckets[name]
			if b == nil {
				continue
			}
			pc := drills.PhaseCoverage{Phase: name, Evaluations: b.evals, Held: b.held, Firing: b.firing, HoldReasons: b.reasons.top(topHoldReasons)}
			if !b.first.IsZero() {
				first, last := b.first, b.last
				pc.FirstEvaluated, pc.LastEvaluated = &first, &last
			}
			sc.Phases = append(sc.Phases, pc)
		}
		out = append(out, sc)
	}
	return out
}

// judgeCoverage judges each unit's inject+observe evaluations: a unit that
// never evaluated for real, or held for more than maxHold of its
// evaluations, left the guard blind. It returns one guard-coverage check
// per unit and, when any unit was blind, the reason that makes the drill
// inconclusive.
func judgeCoverage(cov []drills.SignalCoverage, maxHold float64) ([]drills.Check, string) {
	var checks []drills.Check
	var blind []string
	for _, sc := range cov {
		p := sc.Phase(drills.CoverageFault)
		c := drills.Check{
			Name:     "guard coverage: " + sc.Unit,
			Kind:     drills.CheckCoverage,
			Expected: fmt.Sprintf("evaluated during %s, held at most %s of the time", drills.CoverageFault, percent(maxHold)),
			Verdict:  drills.VerdictPassed,
		}
		var msg string
		switch {
		case p.Evaluations == 0:
			c.Observed = "never evaluated"
			msg = fmt.Sprintf("%s was never evaluated during %s", sc.Unit, drills.CoverageFault)
		default:
			c.Observed = fmt.Sprintf("held %s of %d evaluations", percent(p.HeldFraction()), p.Evaluations)
			if top := p.TopHoldReason(); top != "" {
				c.Observed += " (" + top + ")"
			}
			if p.Real() == 0 || p.HeldFraction() > maxHold {
				msg = fmt.Sprintf("%s held %s of %d evaluations during %s", sc.Unit, percent(p.HeldFraction()), p.Evaluations, drills.CoverageFault)
				if top := p.TopHoldReason(); top != "" {
					msg += " (" + top + ")"
				}
			}
		}
		if msg != "" {
			c.Verdict, c.Message = drills.VerdictInconclusive, "guard blind: "+msg
			blind = append(blind, msg)
		}
		checks = append(checks, c)
	}
	if len(blind) == 0 {
		return checks, ""
	}
	return checks, "guard blind: " + strings.Join(blind, "; ")
}

// percent formats a fraction as a percentage with at most one decimal.
func percent(f float64) string {
	return strconv.FormatFloat(float64(int64(f*1000+0.5))/10, 'f', -1, 64) + "%"
}

// observeGuard is the engine's OnObserve callback: it files the
// evaluation under the phase the runner is in.
func (run *Run) observeGuard(now time.Time, units []engine.UnitReport) {
	run.cov.observe(now, run.currentPhase(), units)
}
