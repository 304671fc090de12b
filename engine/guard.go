package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
)

// EventKind says what happened in the guard's loop.
type EventKind string

// Event kinds, in the order an incident produces them.
const (
	// EventDetection: the first evidence of a new incident.
	EventDetection EventKind = "detection"
	// EventDecision: the decider chose an action and the escalation a
	// strategy to carry it out.
	EventDecision EventKind = "decision"
	// EventAction: a strategy acted (successfully or not).
	EventAction EventKind = "action"
	// EventRecovery: every signal was clear for the verify window; Time is
	// when they cleared.
	EventRecovery EventKind = "recovery"
)

// Event is one step of an incident, for the drill runner's timeline (MTTD
// is detection or decision minus the fault's injection, MTTR recovery
// minus it).
type Event struct {
	// Kind of event.
	Kind EventKind
	// Time it happened.
	Time time.Time
	// Incident it belongs to.
	Incident string
	// Evidence behind a detection.
	Evidence []Evidence
	// Decision behind a decision or action.
	Decision *Decision
	// Strategy of a decision or action.
	Strategy drills.StrategyName
	// Outcome of an action.
	Outcome *Outcome
	// Err is the error of a failed action.
	Err error
	// FromVersion and ToVersion are the container images of the bad and
	// the restored ReplicaSet (decision and action).
	FromVersion, ToVersion string
}

// Guard is the rollback engine's loop for one target: every Interval it
// collects evidence from its signals, decides, escalates through the
// strategies, acts, audits, and verifies the recovery.
type Guard struct {
	policy     drills.Guard
	target     drills.Target
	client     kubernetes.Interface
	dyn        dynamic.Interface
	prom       PromQuerier
	audit      AuditStore
	log        *slog.Logger
	onEvent    func(Event)
	onObserve  func(time.Time, []UnitReport)
	metrics    *Metrics
	leader     *LeaderElection
	rateExpr   string
	extra      []Signal
	strategies []Strategy

	watch    *Watch
	signals  []Signal
	decider  Decider
	esc      *Escalation
	work     workloadTracker
	inc      *incident
	evals    atomic.Int64
	interval time.Duration
	verify   time.Duration
	// settle is how long after an action the guard waits before judging
	// it (settleWindow: at least verify).
	settle time.Duration
}

// incident is the anomaly the guard is handling.
type incident struct {
	id               string
	since, detected  time.Time
	decided, acted   time.Time
	clearSince       time.Time
	attempts         int
	exhaustedLogged  bool
	lastFrom, lastTo string
	lastStrategy     drills.StrategyName
}

// Option configures a Guard.
type Option func(*Guard)

// WithKubernetes sets the client for the Kubernetes signals, the workload
// state and the strategies.
func WithKubernetes(c kubernetes.Interface) Option { return func(g *Guard) { g.client = c } }

// WithDynamic sets the client for custom resources: the revert of an Argo
// Rollouts Rollout target needs it.
func WithDynamic(d dynamic.Interface) Option { return func(g *Guard) { g.dyn = d } }

// WithPrometheus sets the Prometheus API the rules and the sequential test
// query (v1.NewAPI).
func WithPrometheus(api PromQuerier) Option { return func(g *Guard) { g.prom = api } }

// WithAudit sets the audit store; without it nothing is audited.
func WithAudit(s AuditStore) Option { return func(g *Guard) { g.audit = s } }

// WithLog sets the logger (default: discard).
func WithLog(l *slog.Logger) Option { return func(g *Guard) { g.log = l } }

// OnEvent sets the callback that receives the guard's events. It is called
// from the loop and must not block.
func OnEvent(fn func(Event)) Option { return func(g *Guard) { g.onEvent = fn } }

// OnObserve sets the callback that receives, after every evaluation, the
// time of the evaluation and one UnitReport per signal unit (each rule,
// the Kubernetes signals, the statistical test, each extra signal): what
// the guard could really see. It is called from the loop, before the guard
// decides, and must not block; the slice is the callback's to keep.
func OnObserve(fn func(now time.Time, units []UnitReport)) Option {
	return func(g *Guard) { g.onObserve = fn }
}

// WithMetrics sets the engine metrics to update.
func WithMetrics(m *Metrics) Option { return func(g *Guard) { g.metrics = m } }

// WithLeaderElection makes Run act only while holding the Lease.
func WithLeaderElection(le LeaderElection) Option { return func(g *Guard) { g.leader = &le } }

// WithRequestRateExpr sets the request-rate query of the low-traffic guard
// (default: the policy's requestRateExpr, else DefaultRequestRateExpr).
func WithRequestRateExpr(expr string) Option { return func(g *Guard) { g.rateExpr = expr } }

// WithSignals adds signals to the ones the policy asks for.
func WithSignals(s ...Signal) Option { return func(g *Guard) { g.extra = append(g.extra, s...) } }

// WithStrategies replaces the strategies built from the policy.
func WithStrategies(s ...Strategy) Option { return func(g *Guard) { g.strategies = s } }

// NewGuard builds the guard of target from its policy. The policy's rules
// and statistical test need WithPrometheus; its Kubernetes signals,
// statistical test and strategies need WithKubernetes.
func NewGuard(policy drills.Guard, target drills.Target, opts ...Option) (*Guard, error) {
	g := &Guard{policy: policy, target: target}
	for _, o := range opts {
		o(g)
	}
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	rollout := target.Kind == drills.TargetRollout
	switch {
	case target.Kind != "" && target.Kind != drills.TargetDeployment && !rollout:
		return nil, fmt.Errorf("guard: target kind %s is not supported (Deployment or Rollout)", target.Kind)
	case rollout && (policy.Kubernetes != nil || policy.Statistical != nil):
		return nil, fmt.Errorf("guard: the Kubernetes signals and the statistical test read a Deployment's ReplicaSets; guard a Rollout with rules")
	case rollout:
		for _, s := range policy.Strategies {
			if !s.Name.ActsOnRollout() {
				return nil, fmt.Errorf("guard: strategy %s does not act on a Rollout yet; list revert (it aborts and undoes the Rollout), restore or human", s.Name)
			}
		}
	}
	if target.Namespace == "" || target.Name == "" {
		return nil, fmt.Errorf("guard: target needs a namespace and a name")
	}
	g.interval = policy.Interval.Get(drills.DefaultGuardInterval)
	if g.interval <= 0 {
		return nil, fmt.Errorf("guard: interval must be positive, got %s", g.interval)
	}
	g.verify = policy.VerifyWindow.Get(drills.DefaultVerifyWindow)
	g.settle = settleWindow(policy, g.verify)
	if len(policy.Rules) > 0 || policy.Statistical != nil {
		if g.prom == nil {
			return nil, fmt.Errorf("guard: rules and the statistical test need Prometheus")
		}
	}
	if g.client != nil && !rollout {
		g.watch = NewWatch(g.client, target.Namespace, target.Name)
	} else if policy.Kubernetes != nil || policy.Statistical != nil {
		return nil, fmt.Errorf("guard: Kubernetes signals and the statistical test need a Kubernetes client")
	}
	if len(policy.Rules) > 0 {
		rate := g.rateExpr
		if rate == "" {
			rate = policy.RequestRateExpr
		}
		g.signals = append(g.signals, NewRuleSignal(g.prom, policy, rate))
	}
	if policy.Kubernetes != nil {
		g.signals = append(g.signals, NewKubeSignal(g.watch, *policy.Kubernetes))
	}
	if policy.Statistical != nil {
		s, err := NewSequentialSignal(g.prom, g.watch, *policy.Statistical)
		if err != nil {
			return nil, fmt.Errorf("guard: %w", err)
		}
		g.signals = append(g.signals, s)
	}
	g.signals = append(g.signals, g.extra...)
	if len(g.signals) == 0 {
		return nil, fmt.Errorf("guard: no signal to watch")
	}
	if g.strategies == nil {
		st, err := NewStrategies(policy, Deps{Client: g.client, Dynamic: g.dyn})
		if err != nil {
			return nil, fmt.Errorf("guard: %w", err)
		}
		g.strategies = st
	}
	esc, err := NewGuardEscalation(policy, g.strategies, nil)
	if err != nil {
		return nil, fmt.Errorf("guard: %w", err)
	}
	g.esc = esc
	g.decider = NewDecider(policy.Decision)
	if g.leader != nil {
		if g.client == nil {
			return nil, fmt.Errorf("guard: leader election needs a Kubernetes client")
		}
		if g.leader.Namespace == "" || g.leader.Name == "" || g.leader.Identity == "" {
			return nil, fmt.Errorf("guard: leader election needs the Lease's namespace and name and an identity")
		}
	}
	return g, nil
}

// Evaluations is how many times this guard has evaluated its signals (only
// while leading, with leader election).
func (g *Guard) Evaluations() int64 { return g.evals.Load() }

// Run watches and guards the target until ctx ends, then returns nil (or
// the error that stopped it from starting). With leader election it acts
// only while holding the Lease and releases it on the way out.
func (g *Guard) Run(ctx context.Context) error {
	ctx = WithLogger(ctx, g.log)
	if g.policy.Enabled != nil && !*g.policy.Enabled {
		g.log.Info("engine guard disabled by policy", "target", g.target.Namespace+"/"+g.target.Name)
		<-ctx.Done()
		return nil
	}
	if g.leader != nil {
		return RunElected(ctx, g.client, *g.leader, func(ctx context.Context) {
			if err := g.run(ctx); err != nil && ctx.Err() == nil {
				g.log.Error("engine guard stopped", "error", err)
			}
		})
	}
	return g.run(ctx)
}

// run starts the watch and runs the loop until ctx ends.
func (g *Guard) run(ctx context.Context) error {
	if g.watch != nil {
		ctx, cancel := context.WithCancel(ctx)
		defer func() {
			cancel()
			g.watch.Shutdown()
		}()
		w := NewWatch(g.client, g.target.Namespace, g.target.Name)
		*g.watch = *w // a fresh factory for every term
		if err := g.watch.Start(ctx); err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("guard: %w", err)
		}
		return g.loop(ctx)
	}
	return g.loop(ctx)
}

func (g *Guard) loop(ctx context.Context) error {
	g.log.Info("engine guard running", "target", g.target.Namespace+"/"+g.target.Name, "interval", g.interval, "signals", len(g.signals))
	t := time.NewTicker(g.interval)
	defer t.Stop()
	for {
		g.step(ctx, time.Now())
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// step runs one evaluation at now: collect evidence, and open, act on,
// verify or close the incident. Run calls it every Interval.
func (g *Guard) step(ctx context.Context, now time.Time) {
	g.evals.Add(1)
	var obs Observation
	for _, s := range g.signals {
		o := s.Observe(ctx, now)
		if len(o.Units) == 0 {
			o.Units = []UnitReport{unitOf(s.Name(), o)}
		}
		obs.merge(o)
	}
	if g.onObserve != nil {
		g.onObserve(now, obs.Units)
	}
	var snap *Snapshot
	if g.watch != nil {
		var err error
		if snap, err = g.watch.Snapshot(); err != nil {
			snap = nil
		}
	}
	if g.inc == nil {
		if len(obs.Evidence) == 0 {
			g.work.observe(snap)
			if len(obs.Hold) > 0 {
				g.log.Debug("engine hold", "target", g.target.Name, "why", obs.Hold)
			}
			return
		}
		g.open(now, snap, obs)
	}
	ws := g.work.observe(snap)
	inc := g.inc
	if obs.Clear() {
		if inc.clearSince.IsZero() {
			inc.clearSince = now
		}
		if now.Sub(inc.clearSince) >= g.verify {
			g.recover(now)
		}
		return
	}
	inc.clearSince = time.Time{}
	if g.log.Enabled(ctx, slog.LevelDebug) {
		var sources []string
		for _, e := range obs.Evidence {
			sources = append(sources, e.Source)
		}
		g.log.Debug("engine incident not clear", "incident", inc.id, "evidence", sources, "hold", obs.Hold)
	}
	if len(obs.Evidence) == 0 {
		return // on hold: neither act nor count as recovered
	}
	if !inc.acted.IsZero() && now.Sub(inc.acted) < g.settle {
		return // verifying the last action
	}
	dec := g.decider.Decide(now, obs.Evidence, ws)
	strategy, err := g.esc.Next(dec)
	var cool *CooldownError
	switch {
	case errors.As(err, &cool):
		g.log.Debug("engine cooldown", "incident", inc.id, "remaining", cool.Remaining)
		return
	case errors.Is(err, ErrHandedOver), errors.Is(err, ErrNoAnomaly):
		return
	case err != nil:
		if !inc.exhaustedLogged {
			inc.exhaustedLogged = true
			g.log.Warn("engine cannot act", "incident", inc.id, "error", err)
		}
		return
	}
	g.act(ctx, now, snap, dec, strategy)
}

// open starts an incident.
func (g *Guard) open(now time.Time, snap *Snapshot, obs Observation) {
	since := now
	for _, e := range obs.Evidence {
		if !e.Since.IsZero() && e.Since.Before(since) {
			since = e.Since
		}
	}
	g.inc = &incident{
		id:    fmt.Sprintf("%s-%s-%s", g.target.Namespace, g.target.Name, now.UTC().Format("20060102T150405.000Z")),
		since: since, detected: now,
	}
	g.work.begin(now, snap)
	g.log.Info("engine detection", "incident", g.inc.id, "evidence", len(obs.Evidence))
	g.emit(Event{Kind: EventDetection, Time: now, Incident: g.inc.id, Evidence: obs.Evidence})
}

// act carries out the decision with the strategy and audits it.
func (g *Guard) act(ctx context.Context, now time.Time, snap *Snapshot, dec Decision, s Strategy) {
	inc := g.inc
	inc.attempts++
	t := TargetOf(g.target)
	t.IncidentID = inc.id
	from, to := inc.lastFrom, inc.lastTo
	if snap != nil && snap.New != nil && inc.attempts == 1 {
		t.ReplicaSet = snap.New.Name
		from = ImageOf(&snap.New.Spec.Template, g.target.Container)
		if snap.Previous != nil {
			to = ImageOf(&snap.Previous.Spec.Template, g.target.Container)
		}
		inc.lastFrom, inc.lastTo = from, to
	}
	if inc.decided.IsZero() {
		inc.decided = now
		if g.metrics != nil {
			g.metrics.Detection.Observe(now.Sub(inc.since).Seconds())
		}
	}
	g.log.Info("engine decision", "incident", inc.id, "action", dec.Action, "strategy", s.Name(), "reason", dec.Reason)
	g.emit(Event{Kind: EventDecision, Time: now, Incident: inc.id, Decision: &dec, Strategy: s.Name(), FromVersion: from, ToVersion: to})

	id := fmt.Sprintf("%s-%d", inc.id, inc.attempts)
	start := time.Now()
	if g.audit != nil {
		rec := drills.AuditRecord{
			RollbackID: id, ServiceName: g.target.Namespace + "/" + g.target.Name,
			FromVersion: from, ToVersion: to, TriggerTime: inc.detected, StartTime: start,
			Decision: string(dec.Action), Score: dec.Score, Strategy: string(s.Name()), Reason: dec.Reason,
		}
		if err := g.audit.Start(ctx, rec); err != nil {
			g.log.Error("engine audit start failed", "incident", inc.id, "error", err)
		}
	}
	out, err := s.Act(ctx, t, dec)
	end := time.Now()
	outcome, reason := OutcomeSuccess, out.Message
	switch {
	case err != nil:
		outcome, reason = OutcomeFailure, err.Error()
	case out.AlreadyDone:
		outcome = OutcomeAlreadyDone
	}
	if g.audit != nil {
		// Finish even when ctx ended during the action: the row must close.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		if ferr := g.audit.Finish(fctx, id, end, err == nil, reason); ferr != nil {
			g.log.Error("engine audit finish failed", "incident", inc.id, "error", ferr)
		}
		cancel()
	}
	if g.metrics != nil {
		g.metrics.Rollbacks.WithLabelValues(string(s.Name()), outcome).Inc()
	}
	inc.acted, inc.lastStrategy = end, s.Name()
	g.emit(Event{Kind: EventAction, Time: end, Incident: inc.id, Decision: &dec, Strategy: s.Name(), Outcome: &out, Err: err, FromVersion: from, ToVersion: to})
}

// recover closes the incident.
func (g *Guard) recover(now time.Time) {
	inc := g.inc
	g.log.Info("engine recovery", "incident", inc.id, "clearedAt", inc.clearSince, "verifiedAt", now)
	if g.metrics != nil && !inc.acted.IsZero() {
		g.metrics.Recovery.Observe(inc.clearSince.Sub(inc.detected).Seconds())
	}
	g.emit(Event{Kind: EventRecovery, Time: inc.clearSince, Incident: inc.id, Strategy: inc.lastStrategy, FromVersion: inc.lastFrom, ToVersion: inc.lastTo})
	g.esc.Reset()
	g.work.end()
	g.inc = nil
}

func (g *Guard) emit(e Event) {
	if g.onEvent != nil {
		g.onEvent(e)
	}
}
