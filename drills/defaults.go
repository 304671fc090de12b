package drills

import (
	"fmt"
	"time"
)

// Defaults used when a drill leaves a field unset. The SLO defaults are the
// seed's validation thresholds; the decision defaults are its decider's.
const (
	DefaultTrafficRate        = 50.0
	DefaultRequestTimeout     = 2 * time.Second
	DefaultErrorRate          = 0.01
	DefaultP99                = 500 * time.Millisecond
	DefaultSLOWindow          = 10 * time.Second
	DefaultStability          = 15 * time.Second
	DefaultRollbackAt         = 0.9
	DefaultPartialAt          = 0.7
	DefaultPartialPercent     = 50
	DefaultGuardInterval      = time.Second
	DefaultStaleAfter         = 10 * time.Second
	DefaultMinRequestRate     = 1.0
	DefaultMaxHold            = 0.2
	DefaultVerifyWindow       = 15 * time.Second
	DefaultCooldown           = 30 * time.Second
	DefaultMaxAttempts        = 3
	DefaultSignalFor          = 5 * time.Second
	DefaultHistoryLimit       = 10
	DefaultBaselineErrorRate  = 0.005
	DefaultDetectErrorRate    = 0.05
	DefaultFalseAlarmRate     = 1e-6
	DefaultMissRate           = 0.01
	DefaultMinRequests        = 50
	DefaultRevertTimeout      = 2 * time.Minute
	DefaultShrinkInterval     = 5 * time.Second
	DefaultQuarantineLabel    = "firedrill.dev/quarantine=true"
	DefaultBandwidthLimit     = 20000
	DefaultBandwidthBuffer    = 10000
	DefaultPreflightTimeout   = time.Minute
	DefaultBaselineTimeout    = time.Minute
	DefaultInjectTimeout      = 2 * time.Minute
	DefaultObserveTimeout     = 5 * time.Minute
	DefaultVerifyTimeout      = 2 * time.Minute
	DefaultTeardownTimeout    = 2 * time.Minute
	DefaultTotalTimeout       = 15 * time.Minute
	DefaultHTTPExpectedStatus = 200
)

// The statistical test's expressions when a drill gives none and no
// metrics were detected (the engine run on its own, by `firedrill guard`):
// the demo's http_requests_total and our scrape config's pod_template_hash.
const (
	FallbackErrorsExpr = `sum(increase(http_requests_total{code=~"5..",pod_template_hash="{{.Revision}}"}[1m]))`
	FallbackTotalExpr  = `sum(increase(http_requests_total{pod_template_hash="{{.Revision}}"}[1m]))`
)

// Default fills every unset field with its documented default. It is
// idempotent and never overwrites a value the user set.
func (d *Drill) Default() {
	s := &d.Spec
	if s.Target.Kind == "" {
		s.Target.Kind = TargetDeployment
	}
	if s.Target.Service == "" {
		s.Target.Service = s.Target.Name
	}
	if s.Traffic != nil {
		defaultTraffic(s.Traffic)
	}
	if s.Guard == nil {
		s.Guard = &Guard{}
	}
	defaultGuard(s.Guard)
	names := map[FaultType]int{}
	for _, f := range s.Faults {
		names[f.Type]++
	}
	seen := map[FaultType]int{}
	for i := range s.Faults {
		defaultFault(&s.Faults[i], &s.Target, names, seen)
	}
	defaultSLO(&s.SLO)
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = ConcurrencyForbid
	}
	if s.HistoryLimit == nil {
		n := DefaultHistoryLimit
		s.HistoryLimit = &n
	}
	t := &s.Timeouts
	setDur(&t.Preflight, DefaultPreflightTimeout)
	setDur(&t.Baseline, DefaultBaselineTimeout)
	setDur(&t.Inject, DefaultInjectTimeout)
	setDur(&t.Observe, DefaultObserveTimeout)
	setDur(&t.Verify, DefaultVerifyTimeout)
	setDur(&t.Teardown, DefaultTeardownTimeout)
	setDur(&t.Total, DefaultTotalTimeout)
}

// GuardEnabled reports whether the rollback engine guards the target.
func (d *Drill) GuardEnabled() bool {
	return d.Spec.Guard == nil || d.Spec.Guard.Enabled == nil || *d.Spec.Guard.Enabled
}

func defaultTraffic(t *Traffic) {
	if t.Rate == 0 {
		t.Rate = DefaultTrafficRate
	}
	setDur(&t.Timeout, DefaultRequestTimeout)
	for i := range t.Requests {
		r := &t.Requests[i]
		if r.Method == "" {
			r.Method = "GET"
		}
		if r.Weight == 0 {
			r.Weight = 1
		}
	}
}

func defaultGuard(g *Guard) {
	if g.Enabled == nil {
		g.Enabled = ptr(true)
	}
	setDur(&g.Interval, DefaultGuardInterval)
	setDur(&g.StaleAfter, DefaultStaleAfter)
	if g.MinRequestRate == nil {
		g.MinRequestRate = ptr(DefaultMinRequestRate)
	}
	// Rules left out: the rules generated from the target's metrics guard
	// it (the runner generates them once the metrics are known).
	if g.DefaultRules == nil {
		g.DefaultRules = ptr(len(g.Rules) == 0)
	}
	if g.MaxHold == nil {
		g.MaxHold = ptr(DefaultMaxHold)
	}
	// A guard with no detector at all watches the workload's own signals
	// and runs the statistical test, so that no drill is unguarded by
	// accident.
	if len(g.Rules) == 0 && g.Kubernetes == nil && g.Statistical == nil {
		g.Kubernetes = &KubernetesSignals{RolloutStalled: true, CrashLoop: true, ImagePull: true}
		g.Statistical = &Statistical{}
	}
	for i := range g.Rules {
		r := &g.Rules[i]
		if r.Op == "" {
			r.Op = OpGT
		}
		if r.Severity == "" {
			r.Severity = SeverityWarning
		}
		if r.Scope == "" {
			r.Scope = ScopeTarget
		}
		setDur(&r.For, 0)
	}
	if k := g.Kubernetes; k != nil {
		setDur(&k.For, DefaultSignalFor)
		if k.Severity == "" {
			k.Severity = SeverityCritical
		}
	}
	if st := g.Statistical; st != nil {
		if st.Method == "" {
			st.Method = MethodSPRT
		}
		// ErrorsExpr and TotalExpr left empty are generated by the runner
		// from the target's metrics; the engine falls back to
		// FallbackErrorsExpr and FallbackTotalExpr when given none.
		setFloat(&st.BaselineErrorRate, DefaultBaselineErrorRate)
		setFloat(&st.DetectErrorRate, DefaultDetectErrorRate)
		setFloat(&st.FalseAlarmRate, DefaultFalseAlarmRate)
		setFloat(&st.MissRate, DefaultMissRate)
		if st.MinRequests == 0 {
			st.MinRequests = DefaultMinRequests
		}
		if st.Severity == "" {
			st.Severity = SeverityCritical
		}
	}
	setFloat(&g.Decision.RollbackAt, DefaultRollbackAt)
	setFloat(&g.Decision.PartialAt, DefaultPartialAt)
	if g.Decision.PartialPercent == 0 {
		g.Decision.PartialPercent = DefaultPartialPercent
	}
	if len(g.Strategies) == 0 {
		g.Strategies = []Strategy{{Name: StrategyRevert}, {Name: StrategyHuman}}
	}
	for i := range g.Strategies {
		defaultStrategy(&g.Strategies[i])
	}
	setDur(&g.VerifyWindow, DefaultVerifyWindow)
	setDur(&g.Cooldown, DefaultCooldown)
	if g.MaxAttempts == 0 {
		g.MaxAttempts = DefaultMaxAttempts
	}
}

func defaultStrategy(s *Strategy) {
	switch s.Name {
	case StrategyRevert:
		if s.Revert == nil {
			s.Revert = &RevertSettings{}
		}
		setDur(&s.Revert.Timeout, DefaultRevertTimeout)
	case StrategyShrink:
		if s.Shrink == nil {
			s.Shrink = &ShrinkSettings{}
		}
		if s.Shrink.Step == 0 {
			s.Shrink.Step = 1
		}
		setDur(&s.Shrink.Interval, DefaultShrinkInterval)
		if s.Shrink.QuarantineLabel == "" {
			s.Shrink.QuarantineLabel = DefaultQuarantineLabel
		}
	case StrategyHuman:
		if s.Human == nil {
			s.Human = &HumanSettings{}
		}
		if s.Human.PauseRollout == nil {
			s.Human.PauseRollout = ptr(true)
		}
	}
}

func defaultFault(f *Fault, t *Target, counts, seen map[FaultType]int) {
	if f.Name == "" {
		f.Name = string(f.Type)
		if counts[f.Type] > 1 {
			seen[f.Type]++
			f.Name = fmt.Sprintf("%s-%d", f.Type, seen[f.Type])
		}
	}
	if f.Backend == "" {
		f.Backend = BackendAuto
	}
	if f.Selector == nil {
		f.Selector = &Selector{}
	}
	if f.Selector.Namespace == "" {
		f.Selector.Namespace = t.Namespace
	}
	if f.Selector.Mode == "" {
		f.Selector.Mode = ModeOne
	}
	if f.Network != nil {
		if f.Network.Direction == "" {
			f.Network.Direction = DirectionTo
		}
		if f.Type == FaultBandwidth {
			if f.Network.Limit == 0 {
				f.Network.Limit = DefaultBandwidthLimit
			}
			if f.Network.Buffer == 0 {
				f.Network.Buffer = DefaultBandwidthBuffer
			}
		}
	}
}

func defaultSLO(s *SLO) {
	setFloat(&s.ErrorRate, DefaultErrorRate)
	setDur(&s.P99, DefaultP99)
	setDur(&s.Window, DefaultSLOWindow)
	setDur(&s.Stability, DefaultStability)
	for i := range s.Consistency {
		c := &s.Consistency[i]
		if c.PromQL != nil && c.PromQL.Op == "" {
			c.PromQL.Op = OpEQ
		}
		if c.HTTP != nil {
			if c.HTTP.Method == "" {
				c.HTTP.Method = "GET"
			}
			if c.HTTP.ExpectStatus == 0 {
				c.HTTP.ExpectStatus = DefaultHTTPExpectedStatus
			}
		}
	}
}

func setDur(p **Duration, def time.Duration) {
	if *p == nil {
		*p = D(def)
	}
}

func setFloat(p **float64, def float64) {
	if *p == nil {
		*p = ptr(def)
	}
}

func ptr[T any](v T) *T { return &v }
