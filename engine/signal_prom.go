package engine

import (
	"context"
	"fmt"
	"math"
	"strings"
	"time"

	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/promql/parser"

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
// rule is queried at Prometheus' own current time.
//
// Staleness: Prometheus stamps the samples of an instant query with the
// evaluation time, not with when the data was scraped, so the rule's own
// answer cannot tell a live target from one that stopped being scraped
// minutes ago (a rate() keeps answering for the lookback window). So the
// signal also queries the rule's freshness: the newest raw sample time of
// the series the rule reads, max(timestamp(<selector>)) over every vector
// selector in the parsed expression (offset and @ stripped; selectors under
// absent() and absent_over_time() are not counted, since those rules fire
// on missing data). That time is the Reading's At, which the tracker's
// staleAfter compares with the engine's clock; when none of the series has
// a sample the rule HOLDs with no data. A rule with no selector at all
// (vector(1)) is dated by the evaluation time. No data and query errors
// HOLD too. Rules whose expression is a ratio (a binary "/" in the parsed
// expression, drills.IsRatio) HOLD while the request rate
// (RequestRateExpr) is below the guard's minRequestRate.
type RuleSignal struct {
	api      PromQuerier
	rules    []drills.Rule
	fresh    []string // freshness query per rule; "" dates by evaluation time
	ratio    []bool
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
		s.fresh = append(s.fresh, FreshnessExpr(r.Expr))
		s.ratio = append(s.ratio, isRatio(r.Expr))
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
		reading, err := s.queryRule(ctx, r.Expr, s.fresh[i])
		if err != nil {
			logger(ctx).Warn("engine rule query failed", "rule", r.Name, "error", err)
		}
		if reading.At.After(now) {
			// Prometheus' clock is ahead of ours: the sample is fresh.
			reading.At = now
		}
		if s.ratio[i] && reading.Present {
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

// queryRule runs a rule's expression and, when fresh is set, its
// freshness query, and dates the reading by the newest raw sample (see
// RuleSignal).
func (s *RuleSignal) queryRule(ctx context.Context, expr, fresh string) (Reading, error) {
	r, err := s.query(ctx, expr)
	if err != nil || !r.Present || fresh == "" {
		return r, err
	}
	f, err := s.query(ctx, fresh)
	if err != nil {
		return Reading{}, err
	}
	if !f.Present {
		// The value comes from constants alone (or vector(0)): no series
		// behind the rule has a sample.
		return Reading{}, nil
	}
	sec, frac := math.Modf(f.Value)
	r.At = time.Unix(int64(sec), int64(frac*1e9))
	return r, nil
}

// FreshnessExpr returns the query whose value is the newest raw sample
// time (Unix seconds) of the series expr reads, or "" when expr reads no
// series worth dating (no selector, only selectors under absent(), or a
// parse error). See RuleSignal.
func FreshnessExpr(expr string) string {
	x, err := promParser.ParseExpr(expr)
	if err != nil {
		return ""
	}
	var sels []string
	seen := map[string]bool{}
	parser.Inspect(x, func(n parser.Node, path []parser.Node) error {
		vs, ok := n.(*parser.VectorSelector)
		if !ok {
			return nil
		}
		for _, p := range path {
			if c, ok := p.(*parser.Call); ok && (c.Func.Name == "absent" || c.Func.Name == "absent_over_time") {
				return nil
			}
		}
		// The selector as it reads the newest data: no offset, no @.
		bare := &parser.VectorSelector{Name: vs.Name, LabelMatchers: vs.LabelMatchers}
		if str := bare.String(); !seen[str] {
			seen[str] = true
			sels = append(sels, str)
		}
		return nil
	})
	switch len(sels) {
	case 0:
		return ""
	case 1:
		return "max(timestamp(" + sels[0] + "))"
	}
	// One label per selector keeps the series of different selectors
	// apart, so that "or" unites them instead of keeping only the first.
	parts := make([]string, len(sels))
	for i, sel := range sels {
		parts[i] = fmt.Sprintf(`label_replace(timestamp(%s), "firedrill_selector", "%d", "", "")`, sel, i)
	}
	return "max(" + strings.Join(parts, " or ") + ")"
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
// that is meaningless at low traffic: a binary "/" in the parsed
// expression, not a "/" in a label matcher.
func isRatio(expr string) bool { return drills.IsRatio(expr) }
