package signals

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/common/model"

	"github.com/firedrill/firedrill/drills"
)

// Names and defaults of the generated rules.
const (
	// ErrorRateRule is the generated error-rate rule's name.
	ErrorRateRule = "HighErrorRate"
	// LatencyRule is the generated p99-latency rule's name.
	LatencyRule = "LatencySpike"
	// DefaultWindow is the rate window of the generated rules.
	DefaultWindow = 15 * time.Second
	// DefaultRateWindow is the rate window of the generated request rate.
	DefaultRateWindow = time.Minute
	// DefaultErrorThreshold is the generated error-rate rule's threshold.
	DefaultErrorThreshold = 0.05
	// DefaultErrorFor is the generated error-rate rule's for window.
	DefaultErrorFor = 3 * time.Second
	// DefaultLatencyFor is the generated latency rule's for window.
	DefaultLatencyFor = 5 * time.Second
)

// Options tune the generated rules.
type Options struct {
	// Window is the rate window (default DefaultWindow).
	Window time.Duration
	// ErrorThreshold is the error ratio that fires the error-rate rule
	// (default DefaultErrorThreshold).
	ErrorThreshold float64
	// P99 is the drill's p99 SLO: the latency rule fires at twice it
	// (default twice drills.DefaultP99).
	P99 time.Duration
}

// Selector returns the request counter's series selector with the given
// matchers (e.g. a Scope's): http_requests_total{namespace="ns",pod=~"..."}.
func (m Metrics) Selector(matchers string) string {
	return m.Requests + "{" + matchers + "}"
}

// ErrorsSelector is Selector restricted to the error statuses:
// http_requests_total{namespace="ns",pod=~"...",code=~"5.."}.
func (m Metrics) ErrorsSelector(matchers string) string {
	return m.Requests + "{" + matchers + "," + m.StatusLabel + "=~" + strconv.Quote(m.Errors) + "}"
}

// Rules returns the error-rate rule and, when the target has a latency
// histogram, the p99-latency rule, both reading only the scope's series.
func Rules(m Metrics, sc drills.Scope, o Options) []drills.Rule {
	if o.Window <= 0 {
		o.Window = DefaultWindow
	}
	if o.ErrorThreshold <= 0 {
		o.ErrorThreshold = DefaultErrorThreshold
	}
	if o.P99 <= 0 {
		o.P99 = drills.DefaultP99
	}
	w := promDuration(o.Window)
	sel := sc.Matchers()
	rules := []drills.Rule{{
		Name: ErrorRateRule,
		Expr: fmt.Sprintf(`(sum(rate(%s[%s])) or vector(0)) / sum(rate(%s[%s]))`,
			m.ErrorsSelector(sel), w, m.Selector(sel), w),
		Op: drills.OpGT, Threshold: o.ErrorThreshold, For: drills.D(DefaultErrorFor),
		Severity: drills.SeverityCritical, Scope: drills.ScopeTarget,
	}}
	if m.Latency != "" {
		rules = append(rules, drills.Rule{
			Name: LatencyRule,
			Expr: fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(%s{%s}[%s])))`, m.Latency, sel, w),
			Op:   drills.OpGT, Threshold: (2 * o.P99).Seconds(), For: drills.D(DefaultLatencyFor),
			Severity: drills.SeverityWarning, Scope: drills.ScopeTarget,
		})
	}
	return rules
}

// RequestRate returns the low-traffic guard's request rate: the scope's
// requests per second over DefaultRateWindow.
func RequestRate(m Metrics, sc drills.Scope) string {
	return fmt.Sprintf(`sum(rate(%s[%s]))`, m.Selector(sc.Matchers()), promDuration(DefaultRateWindow))
}

// CounterExpr turns the statistical test's counter selector into the
// count the test reads. It is the one place that decides the function.
func CounterExpr(selector string) string {
	return fmt.Sprintf(`sum(increase(%s[1m]))`, selector)
}

// Statistical returns the statistical test's error and request counts of a
// revision: the counters of the revision's pods ({{.Revision}} is the pod
// template hash the test fills in).
func Statistical(m Metrics, sc drills.Scope) (errorsExpr, totalExpr string) {
	sel := sc.RevisionMatchers()
	return CounterExpr(m.ErrorsSelector(sel)), CounterExpr(m.Selector(sel))
}

// Needed reports whether the guard leaves something to the generated
// signals: the default rules, the statistical expressions, or the request
// rate of a ratio rule.
func Needed(g *drills.Guard) bool {
	if g == nil {
		return false
	}
	st := g.Statistical
	return (g.DefaultRules != nil && *g.DefaultRules) || (g.RequestRateExpr == "" && hasRatio(g.Rules)) ||
		(st != nil && (st.ErrorsExpr == "" || st.TotalExpr == ""))
}

// hasRatio reports whether a rule divides: the low-traffic guard's request
// rate is read only for those (the engine's own test).
func hasRatio(rules []drills.Rule) bool {
	for _, r := range rules {
		if strings.Contains(r.Expr, "/") {
			return true
		}
	}
	return false
}

// Apply fills what the drill's guard leaves to the generated signals, in
// place: the default rules (when DefaultRules is set) ahead of the drill's
// own, the request rate and the statistical expressions when empty. It
// returns what it filled in, for the run's events.
func Apply(g *drills.Guard, m Metrics, sc drills.Scope, o Options) []string {
	var did []string
	if g.DefaultRules != nil && *g.DefaultRules {
		have := map[string]bool{}
		for _, r := range g.Rules {
			have[r.Name] = true
		}
		var gen []drills.Rule
		for _, r := range Rules(m, sc, o) {
			if !have[r.Name] {
				gen = append(gen, r)
				did = append(did, "rule "+r.Name+": "+r.Expr)
			}
		}
		g.Rules = append(gen, g.Rules...)
	}
	if g.RequestRateExpr == "" {
		g.RequestRateExpr = RequestRate(m, sc)
		did = append(did, "request rate: "+g.RequestRateExpr)
	}
	if st := g.Statistical; st != nil {
		e, t := Statistical(m, sc)
		if st.ErrorsExpr == "" {
			st.ErrorsExpr = e
			did = append(did, "statistical errors: "+e)
		}
		if st.TotalExpr == "" {
			st.TotalExpr = t
			did = append(did, "statistical total: "+t)
		}
	}
	return did
}

// promDuration renders d as a PromQL duration: 15s, 1m, 500ms.
func promDuration(d time.Duration) string { return model.Duration(d).String() }
