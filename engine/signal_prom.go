package engine

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/firedrill/firedrill/drills"
)

// PromQuerier is the part of the Prometheus HTTP API (api/v1) the engine
// uses; v1.NewAPI returns one.
type PromQuerier interface {
	Query(ctx context.Context, query string, ts time.Time, opts ...v1.Option) (model.Value, v1.Warnings, v1.Infos, error)
}

// DefaultRequestRateExpr is the request-rate query behind the low-traffic
// guard when none is given.
const DefaultRequestRateExpr = `sum(rate(http_requests_total[1m]))`

// RuleSignal evaluates the guard's PromQL rules through RuleTrackers. Each
// rule is queried at Prometheus' own current time; the timestamp of the
// newest sample in the answer is what the staleness check (staleAfter)
// compares with the engine's clock, so a lagging or cached Prometheus puts
// the rule in HOLD. No data and query errors HOLD too. Rules whose
// expression is a ratio (contains "/") HOLD while the request rate
// (RequestRateExpr) is below the guard's minRequestRate.
type RuleSignal struct {
	api      PromQuerier
	rules    []drills.Rule
	trackers []*RuleTracker
	minRate  float64
	rateExpr string
	timeout  time.Duration
}

// NewRuleSignal builds the rule signal for the guard's rules; rateExpr
// empty is DefaultRequestRateExpr.
func NewRuleSignal(api PromQuerier, g drills.Guard, rateExpr string) *RuleSignal {
	if rateExpr == "" {
		rateExpr = DefaultRequestRateExpr
	}
	s := &RuleSignal{api: api, rateExpr: rateExpr, minRate: drills.DefaultMinRequestRate, timeout: 5 * time.Second}
	if g.MinRequestRate != nil {
		s.minRate = *g.MinRequestRate
	}
	stale := g.StaleAfter.Get(drills.DefaultStaleAfter)
	for _, r := range g.Rules {
		if r.Op == "" {
			r.Op = drills.OpGT
		}
		s.rules = append(s.rules, r)
		s.trackers = append(s.trackers, NewRuleTracker(r, stale))
	}
	return s
}

// Name implements Signal.
func (*RuleSignal) Name() string { return "rules" }

// RuleUnit is the coverage unit name of the rule called name: "rule
// <name>" (UnitReport).
func RuleUnit(name string) string { return "rule " + name }

// Observe implements Signal.
func (s *RuleSignal) Observe(ctx context.Context, now time.Time) Observation {
	var obs Observation
	lowTraffic, rateChecked := false, false
	var rateProblem string
	for i, r := range s.rules {
		reading, err := s.query(ctx, r.Expr)
		if err != nil {
			logger(ctx).Warn("engine rule query failed", "rule", r.Name, "error", err)
		}
		if reading.At.After(now) {
			// Prometheus' clock is ahead of ours: the sample is fresh.
			reading.At = now
		}
		if isRatio(r.Expr) && reading.Present {
			if !rateChecked {
				rateChecked = true
				rate, rerr := s.query(ctx, s.rateExpr)
				switch {
				case rerr != nil:
					lowTraffic, rateProblem = true, fmt.Sprintf("request rate query failed: %v", rerr)
				case !rate.Present || rate.Value < s.minRate:
					lowTraffic = true
				}
			}
			reading.LowTraffic = lowTraffic
		}
		st := s.trackers[i].Update(now, reading)
		unit := UnitReport{Name: RuleUnit(r.Name), State: UnitClear}
		switch st.State {
		case RuleFiring:
			obs.Evidence = append(obs.Evidence, RuleEvidence(r, st))
			unit.State = UnitFiring
		case RuleHold:
			reason := st.Reason
			if err != nil {
				reason = fmt.Sprintf("query failed: %v", err)
			} else if reading.LowTraffic && rateProblem != "" {
				reason = rateProblem
			}
			obs.Hold = append(obs.Hold, fmt.Sprintf("rule %s: %s", r.Name, reason))
			unit.State, unit.Reason = UnitHeld, reason
		}
		obs.Units = append(obs.Units, unit)
	}
	return obs
}

// query runs expr at Prometheus' current time and returns the largest
// value with the newest sample time; an empty answer is not Present.
func (s *RuleSignal) query(ctx context.Context, expr string) (Reading, error) {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	val, _, _, err := s.api.Query(ctx, expr, time.Time{})
	if err != nil {
		return Reading{}, fmt.Errorf("query %q: %w", expr, err)
	}
	return readingOf(val), nil
}

// readingOf turns a query answer into a Reading: the largest non-NaN
// value of a vector (or a scalar), stamped with the newest sample time.
func readingOf(val model.Value) Reading {
	var r Reading
	add := func(v model.SampleValue, ts model.Time) {
		f := float64(v)
		if math.IsNaN(f) {
			return
		}
		if !r.Present || f > r.Value {
			r.Value = f
		}
		if t := ts.Time(); t.After(r.At) {
			r.At = t
		}
		r.Present = true
	}
	switch v := val.(type) {
	case model.Vector:
		for _, s := range v {
			add(s.Value, s.Timestamp)
		}
	case *model.Scalar:
		if v != nil {
			add(v.Value, v.Timestamp)
		}
	}
	return r
}

// isRatio reports whether a rule's expression divides, i.e. is a ratio
// that is meaningless at low traffic.
func isRatio(expr string) bool { return strings.Contains(expr, "/") }
