package runner

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner/traffic"
)

// healthPoint is the SLO state at one moment: the traffic window that ends
// at At and the consistency checks run at that tick.
type healthPoint struct {
	// At is the end of the traffic window; Now is when the point was
	// taken and the consistency checks ran (At is settleLag before Now
	// when there is traffic).
	At  time.Time
	Now time.Time
	OK  bool
	// TrafficFailed and ConsFailed say which part was not OK.
	TrafficFailed bool
	ConsFailed    bool
	Requests      int64
	ErrRate       float64
	P99           time.Duration
	Failing       []string // why not OK

	// ErrFailed and P99Failed say which traffic SLO was broken; a window
	// with no request (Requests 0 with traffic) breaks neither but holds
	// no evidence for either.
	ErrFailed, P99Failed bool
}

// healthTracker keeps the health points of a run.
type healthTracker struct {
	points []healthPoint
}

func (h *healthTracker) add(p healthPoint) { h.points = append(h.points, p) }

// healthySince returns the start of the current healthy streak (the first
// point of the trailing run of OK points) and whether the latest point is
// OK. A streak that follows a failed consistency check starts when that
// check was seen to pass (Now), not at the end of the traffic window.
func (h *healthTracker) healthySince() (time.Time, bool) {
	if len(h.points) == 0 || !h.points[len(h.points)-1].OK {
		return time.Time{}, false
	}
	i := len(h.points) - 1
	for i > 0 && h.points[i-1].OK {
		i--
	}
	if i > 0 && h.points[i-1].ConsFailed && !h.points[i].Now.IsZero() {
		return h.points[i].Now, true
	}
	return h.points[i].At, true
}

// trafficSLO is one SLO judged from the traffic generator's figures.
type trafficSLO int

const (
	sloErrorRate trafficSLO = iota
	sloP99
)

// holds reports whether p is evidence that slo held: the SLO window had
// requests and the SLO's own figure was within its bound.
func (p healthPoint) holds(slo trafficSLO) bool {
	if p.Requests == 0 {
		return false
	}
	if slo == sloErrorRate {
		return !p.ErrFailed
	}
	return !p.P99Failed
}

// healthySinceOf is healthySince for one traffic SLO, judged on its own
// figure only: the At of the first point of the trailing run of points
// where slo held, and whether the latest point holds it.
func (h *healthTracker) healthySinceOf(slo trafficSLO) (time.Time, bool) {
	if len(h.points) == 0 || !h.points[len(h.points)-1].holds(slo) {
		return time.Time{}, false
	}
	i := len(h.points) - 1
	for i > 0 && h.points[i-1].holds(slo) {
		i--
	}
	return h.points[i].At, true
}

// breachAt is when p's breach was first in evidence: the end of the
// traffic window when traffic broke the SLO, else when the consistency
// check failed.
func (p healthPoint) breachAt() time.Time {
	if p.ConsFailed && !p.TrafficFailed && !p.Now.IsZero() {
		return p.Now
	}
	return p.At
}

// firstBreachAfter returns the first not-OK point whose breach is at or
// after t.
func (h *healthTracker) firstBreachAfter(t time.Time) (healthPoint, bool) {
	for _, p := range h.points {
		if !p.OK && !p.breachAt().Before(t) {
			return p, true
		}
	}
	return healthPoint{}, false
}

// settleLag is how far behind now the traffic window ends: requests take
// up to their timeout to finish, so the newest seconds are not final yet.
func (run *Run) settleLag() time.Duration {
	if tr := run.drill.Spec.Traffic; tr != nil && tr.Timeout != nil {
		return tr.Timeout.Duration + 250*time.Millisecond
	}
	return drills.DefaultRequestTimeout
}

// evalHealth measures the SLOs now: the traffic generator's error rate and
// p99 over the SLO window (ending settleLag ago, when every request of it
// has finished) and every consistency check.
func (run *Run) evalHealth(ctx context.Context) healthPoint {
	slo := run.drill.Spec.SLO
	now := run.r.now()
	p := healthPoint{At: now, Now: now, OK: true}
	if run.gen != nil {
		end := now.Add(-run.settleLag())
		s := run.gen.Stats().Snapshot(end.Add(-slo.Window.Duration), end)
		p.At = end
		p.Requests, p.ErrRate, p.P99 = s.Requests, s.ErrorRate, s.P99
		switch {
		case s.Requests == 0:
			p.OK, p.TrafficFailed = false, true
			p.Failing = append(p.Failing, "no request finished in the SLO window")
		default:
			if slo.ErrorRate != nil && s.ErrorRate > *slo.ErrorRate {
				p.OK, p.TrafficFailed, p.ErrFailed = false, true, true
				p.Failing = append(p.Failing, fmt.Sprintf("error rate %.2f%% > %.2f%% (%s)", 100*s.ErrorRate, 100**slo.ErrorRate, byKind(s.ByKind)))
			}
			if slo.P99 != nil && s.P99 > slo.P99.Duration {
				p.OK, p.TrafficFailed, p.P99Failed = false, true, true
				p.Failing = append(p.Failing, fmt.Sprintf("p99 %s > %s", s.P99.Round(time.Millisecond), slo.P99.Duration))
			}
		}
	}
	for _, c := range slo.Consistency {
		ok, observed, err := run.consistency(ctx, c)
		if err != nil {
			observed = err.Error()
		}
		if !ok {
			p.OK, p.ConsFailed = false, true
			p.Failing = append(p.Failing, fmt.Sprintf("%s: %s", c.Name, observed))
		}
	}
	return p
}

// whyOf is p's figure for one traffic SLO, for a check's observation.
func (p healthPoint) whyOf(k trafficSLO, slo drills.SLO) string {
	if p.Requests == 0 {
		return "no request finished in the SLO window"
	}
	if k == sloErrorRate {
		rel := "≤"
		if p.ErrFailed {
			rel = ">"
		}
		return fmt.Sprintf("error rate %.2f%% %s %.2f%%", 100*p.ErrRate, rel, 100**slo.ErrorRate)
	}
	rel := "≤"
	if p.P99Failed {
		rel = ">"
	}
	return fmt.Sprintf("p99 %s %s %s", p.P99.Round(time.Millisecond), rel, slo.P99.Duration)
}

// why joins the reasons of a point.
func (p healthPoint) why() string {
	if p.OK {
		return "SLOs hold"
	}
	return strings.Join(p.Failing, "; ")
}

// windowStats is the traffic between from and to.
func (run *Run) windowStats(from, to time.Time) traffic.Snapshot {
	if run.gen == nil {
		return traffic.Snapshot{}
	}
	return run.gen.Stats().Snapshot(from, to)
}

// byKind renders the error kinds of a window, most frequent first.
func byKind(m map[traffic.Kind]int64) string {
	type kv struct {
		k traffic.Kind
		n int64
	}
	var kvs []kv
	for k, n := range m {
		kvs = append(kvs, kv{k, n})
	}
	sort.Slice(kvs, func(i, j int) bool { return kvs[i].n > kvs[j].n || kvs[i].n == kvs[j].n && kvs[i].k < kvs[j].k })
	var parts []string
	for _, e := range kvs {
		parts = append(parts, fmt.Sprintf("%s %d", e.k, e.n))
	}
	return strings.Join(parts, ", ")
}
