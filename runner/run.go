package runner

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"sync"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
	"github.com/firedrill/firedrill/engine/signals"
	"github.com/firedrill/firedrill/runner/traffic"
	"github.com/firedrill/firedrill/scenarios"
)

// Run is the state of one drill run, shared by its phases.
type Run struct {
	r     *Runner
	drill *drills.Drill
	owner string
	guard bool

	mu  sync.Mutex
	res *drills.Result

	prom     promv1.API
	snapshot *targetSnapshot
	targets  *traffic.ServiceTargets
	// trafTargets are what the generator sends to: targets, or the
	// Service's ClusterIP with spec.traffic.via service.
	trafTargets traffic.Targets
	gen         *traffic.Generator
	stopTraf    context.CancelFunc
	trafDone    chan struct{}
	guardRun    *guardRun
	cov         *coverage // what the engine's signals saw; nil without a guard
	faults      []*injected
	injected    time.Time // first fault injected
	health      healthTracker
	phaseName   string // guarded by mu: read from the engine's goroutine
	conns       conns
	httpc       *http.Client
	mttr        *time.Duration
	sawImpact   bool
	ticks       int

	teardownErr error
	// written are the values the drill wrote on the target.
	written written

	// scrape is the target's scrape interval as Prometheus reports it
	// (0 when unknown); the generated signals' windows follow it.
	scrape time.Duration
	// scrapeSel selects the target's pods whose scrape interval is read
	// (set at preflight).
	scrapeSel *metav1.LabelSelector
	// metrics are the target's request metrics the generated signals
	// read, once resolved.
	metrics *signals.Metrics
	// signalsDone is set once the guard's generated signals are filled in.
	signalsDone bool
	// proofConns serve the consistency checks that faults run as their
	// proof, from the proof goroutine.
	proofConns conns
}

// injected is one fault put in by the inject phase.
type injected struct {
	spec      drills.Fault
	fault     scenarios.Fault
	backend   string
	at        time.Time
	removeAt  time.Time // zero: at teardown
	removed   bool
	attempted bool
	proven    bool
	proof     scenarios.Status
	provenAt  time.Time
	lastProof scenarios.Status
}

// Progress is a live report of a run, for the CLI.
type Progress struct {
	Drill   string
	Phase   string
	Elapsed time.Duration
	// Message is set on phase changes and notable events.
	Message string
	// Live figures over the last SLO window, when traffic runs.
	ErrorRate  float64
	P99        time.Duration
	Throughput float64
	HasTraffic bool
}

// currentPhase returns the name of the phase that runs now; safe to call
// from any goroutine.
func (run *Run) currentPhase() string {
	run.mu.Lock()
	defer run.mu.Unlock()
	return run.phaseName
}

// setPhase records the phase that runs now.
func (run *Run) setPhase(name string) {
	run.mu.Lock()
	defer run.mu.Unlock()
	run.phaseName = name
}

// event records a timeline event.
func (run *Run) event(kind drills.EventKind, at time.Time, msg string, attrs map[string]string) {
	run.mu.Lock()
	run.res.Events = append(run.res.Events, drills.Event{Time: at, Kind: kind, Message: msg, Attributes: attrs})
	run.mu.Unlock()
	run.r.log.Info("event", "drill", run.drill.Metadata.Name, "kind", kind, "message", msg)
	if kind != drills.EventPhase {
		run.report(msg)
	}
}

// check records a verdict.
func (run *Run) check(c drills.Check) {
	run.mu.Lock()
	defer run.mu.Unlock()
	run.res.Checks = append(run.res.Checks, c)
}

// report sends a progress line.
func (run *Run) report(msg string) {
	if run.r.progress == nil {
		return
	}
	p := Progress{Drill: run.drill.Metadata.Name, Phase: run.currentPhase(), Elapsed: run.r.now().Sub(run.res.Started), Message: msg}
	if run.gen != nil {
		s := run.gen.Stats().Last(run.drill.Spec.SLO.Window.Duration)
		p.HasTraffic = s.Requests > 0
		p.ErrorRate, p.P99, p.Throughput = s.ErrorRate, s.P99, s.Throughput
	}
	run.r.progress(p)
}

// phase runs one phase with its timeout and records its result.
func (run *Run) phase(ctx context.Context, p phase) error {
	start := run.r.now()
	run.setPhase(p.name)
	run.event(drills.EventPhase, start, "phase "+p.name+" started", map[string]string{"phase": p.name})
	run.report("phase " + p.name)
	pctx, cancel := context.WithTimeout(ctx, p.timeout(run.drill))
	defer cancel()
	err := p.exec(run, pctx)
	if err == nil && ctx.Err() != nil {
		err = ctx.Err()
	}
	if cause := context.Cause(ctx); err != nil && errors.Is(cause, scenarios.ErrAborted) {
		err = fmt.Errorf("%w: %w", ErrInconclusive, cause)
	}
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		err = fmt.Errorf("phase %s timed out after %s: %w", p.name, p.timeout(run.drill), err)
	}
	pr := drills.PhaseResult{Name: p.name, Started: start, Duration: drills.Duration{Duration: run.r.now().Sub(start)}, Verdict: drills.VerdictPassed}
	switch {
	case err == nil:
	case errors.Is(err, ErrInconclusive):
		pr.Verdict, pr.Message = drills.VerdictInconclusive, err.Error()
	case errors.Is(err, errVerdictFailed):
		pr.Verdict, pr.Message = drills.VerdictFailed, err.Error()
	default:
		pr.Verdict, pr.Message = drills.VerdictError, err.Error()
	}
	run.mu.Lock()
	run.res.Phases = append(run.res.Phases, pr)
	run.mu.Unlock()
	if err != nil {
		run.report(fmt.Sprintf("phase %s: %s: %v", p.name, pr.Verdict, err))
	}
	return err
}

// skipPhase records a phase that did not run.
func (run *Run) skipPhase(name, why string) {
	run.mu.Lock()
	defer run.mu.Unlock()
	run.res.Phases = append(run.res.Phases, drills.PhaseResult{Name: name, Started: run.r.now(), Verdict: drills.VerdictSkipped, Message: why})
}

// errVerdictFailed marks a phase whose checks failed (the drill ran, the
// verdict is failed).
var errVerdictFailed = errors.New("checks failed")

// finish computes MTTD, MTTR and the expectations, and the overall verdict.
func (run *Run) finish(ctx context.Context, failure error) {
	res := run.res
	res.Finished = run.r.now()
	run.measure()
	if (failure == nil || errors.Is(failure, errVerdictFailed)) && !run.r.dryRun {
		run.expectations()
	}
	if run.gen != nil {
		res.Timeline = append(res.Timeline, run.gen.Stats().Samples()...)
	}
	run.promTimeline(ctx)
	sort.SliceStable(res.Timeline, func(i, j int) bool { return res.Timeline[i].Time.Before(res.Timeline[j].Time) })
	sort.SliceStable(res.Events, func(i, j int) bool { return res.Events[i].Time.Before(res.Events[j].Time) })

	failed := false
	for _, c := range res.Checks {
		if c.Verdict == drills.VerdictFailed {
			failed = true
		}
	}
	switch {
	case failure == nil && run.r.dryRun:
		res.Verdict, res.Reason = drills.VerdictSkipped, "dry run: preflight passed, nothing injected"
	case failure != nil && errors.Is(failure, ErrInconclusive):
		res.Verdict, res.Reason = drills.VerdictInconclusive, failure.Error()
	case failure != nil && errors.Is(failure, context.Canceled):
		res.Verdict, res.Reason = drills.VerdictError, "interrupted: "+failure.Error()
	case failure != nil && !errors.Is(failure, errVerdictFailed):
		res.Verdict, res.Reason = drills.VerdictError, failure.Error()
	case failed:
		res.Verdict, res.Reason = drills.VerdictFailed, failedChecks(res.Checks)
	default:
		res.Verdict = drills.VerdictPassed
	}
	run.judgeCoverage(failure)
	if run.teardownErr != nil {
		msg := "teardown: " + run.teardownErr.Error()
		if res.Verdict == drills.VerdictPassed {
			res.Verdict = drills.VerdictError
			res.Reason = msg
		} else {
			res.Reason += "; " + msg
		}
	}
}

// judgeCoverage records the engine's coverage in the result and, when the
// drill ran to its verdict, judges it: a guard that was blind during inject
// and observe makes a passed or failed drill inconclusive.
func (run *Run) judgeCoverage(failure error) {
	if run.cov == nil {
		return
	}
	res := run.res
	res.GuardCoverage = run.cov.result()
	if failure != nil && !errors.Is(failure, errVerdictFailed) {
		return
	}
	maxHold := drills.DefaultMaxHold
	if g := run.drill.Spec.Guard; g != nil && g.MaxHold != nil {
		maxHold = *g.MaxHold
	}
	checks, blind := judgeCoverage(res.GuardCoverage, maxHold)
	res.Checks = append(res.Checks, checks...)
	if blind == "" || (res.Verdict != drills.VerdictPassed && res.Verdict != drills.VerdictFailed) {
		return
	}
	if res.Verdict == drills.VerdictFailed {
		blind += "; otherwise " + res.Reason
	}
	res.Verdict, res.Reason = drills.VerdictInconclusive, blind
}

// failedChecks names the failed checks.
func failedChecks(cs []drills.Check) string {
	var names []string
	for _, c := range cs {
		if c.Verdict == drills.VerdictFailed {
			names = append(names, c.Name)
		}
	}
	if len(names) == 1 {
		return "check failed: " + names[0]
	}
	return fmt.Sprintf("%d checks failed: %v", len(names), names)
}

// guardEvent turns an engine event into a timeline event.
func (run *Run) guardEvent(e engine.Event) {
	attrs := map[string]string{"incident": e.Incident}
	var kind drills.EventKind
	var msg string
	switch e.Kind {
	case engine.EventDetection:
		kind = drills.EventDetection
		var srcs []string
		for _, ev := range e.Evidence {
			srcs = append(srcs, ev.Source)
		}
		msg = fmt.Sprintf("engine detected an anomaly (%v)", srcs)
	case engine.EventDecision:
		kind = drills.EventDecision
		msg = "engine decided: " + string(e.Strategy)
		if e.Decision != nil {
			msg += " — " + e.Decision.Reason
			attrs["score"] = fmt.Sprintf("%.3f", e.Decision.Score)
			attrs["action"] = string(e.Decision.Action)
		}
	case engine.EventAction:
		kind = drills.EventAction
		if e.Err != nil {
			msg = fmt.Sprintf("engine action %s failed: %v", e.Strategy, e.Err)
			attrs["error"] = e.Err.Error()
		} else {
			msg = fmt.Sprintf("engine acted: %s %s → %s", e.Strategy, e.FromVersion, e.ToVersion)
		}
	case engine.EventRecovery:
		kind = drills.EventRecovery
		msg = "engine verified the recovery"
	default:
		return
	}
	if e.Strategy != "" {
		attrs["strategy"] = string(e.Strategy)
	}
	if e.FromVersion != "" {
		attrs["from"] = e.FromVersion
	}
	if e.ToVersion != "" {
		attrs["to"] = e.ToVersion
	}
	if e.Kind == engine.EventAction && e.Err == nil {
		run.written.addEngine(e.Strategy, run.targetNow(context.Background()))
	}
	run.event(kind, e.Time, msg, attrs)
	if run.guardRun != nil {
		run.guardRun.record(e)
	}
}
