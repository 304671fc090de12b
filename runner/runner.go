package runner

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
	"github.com/firedrill/firedrill/scenarios"
)

// Backends chooses the fault backend for one fault: it returns the
// registry to build the fault from and a sentence saying why that backend
// was chosen (recorded in the result).
type Backends func(ctx context.Context, spec drills.Fault) (reg *scenarios.Registry, reason string, err error)

// PromFactory returns the Prometheus API for a drill's spec.prometheus.url.
type PromFactory func(url string) (promv1.API, error)

// Runner runs drills against one cluster. It is safe to run several drills
// one after the other; Run is not meant to be called concurrently for the
// same target.
type Runner struct {
	client     kubernetes.Interface
	dyn        dynamic.Interface
	prom       PromFactory
	backends   Backends
	audit      engine.AuditStore
	auditDir   string
	log        *slog.Logger
	progress   func(Progress)
	noGuard    bool
	owner      string
	trafficOpt []TrafficOption
	now        func() time.Time
	tick       time.Duration
	minObserve time.Duration
	guardOpts  []engine.Option
	allowNS    []string
	dryRun     bool
}

// Option configures a Runner.
type Option func(*Runner)

// WithPrometheus sets how the Prometheus API is reached (default: the
// client_golang HTTP client at the drill's URL).
func WithPrometheus(f PromFactory) Option { return func(r *Runner) { r.prom = f } }

// WithDynamic sets the dynamic client through which the runner, its faults
// and the engine reach an Argo Rollouts Rollout target (a drill with
// spec.target.kind Rollout needs it).
func WithDynamic(dyn dynamic.Interface) Option { return func(r *Runner) { r.dyn = dyn } }

// WithBackends sets the fault backend chooser (default: the native backend
// for every fault).
func WithBackends(b Backends) Option { return func(r *Runner) { r.backends = b } }

// WithAudit sets the engine's audit store; the runner reads back the rows
// written during each run. Default: a SQLite file per run in the folder set
// by WithAuditDir, else in a temporary folder.
func WithAudit(a engine.AuditStore) Option { return func(r *Runner) { r.audit = a } }

// WithAuditDir sets where the default per-run SQLite audit files go.
func WithAuditDir(dir string) Option { return func(r *Runner) { r.auditDir = dir } }

// WithLogger sets the logger (default: none).
func WithLogger(l *slog.Logger) Option { return func(r *Runner) { r.log = l } }

// WithProgress receives live progress: phase changes and a sample about
// every second while traffic runs.
func WithProgress(fn func(Progress)) Option { return func(r *Runner) { r.progress = fn } }

// WithoutGuard runs every drill with the engine disabled (the
// counterfactual), whatever the drill says.
func WithoutGuard() Option { return func(r *Runner) { r.noGuard = true } }

// WithOwner sets the owner recorded on injected faults (default
// "firedrill-<drill>").
func WithOwner(owner string) Option { return func(r *Runner) { r.owner = owner } }

// WithTraffic passes options to the traffic generator's targets.
func WithTraffic(opts ...TrafficOption) Option {
	return func(r *Runner) { r.trafficOpt = append(r.trafficOpt, opts...) }
}

// WithGuardOptions passes extra options to the engine's Guard.
func WithGuardOptions(opts ...engine.Option) Option {
	return func(r *Runner) { r.guardOpts = append(r.guardOpts, opts...) }
}

// WithAllowedNamespaces lets drills target these namespaces although they
// are not labelled firedrill.dev/drills=enabled (--allow-namespace).
func WithAllowedNamespaces(ns ...string) Option {
	return func(r *Runner) { r.allowNS = append(r.allowNS, ns...) }
}

// WithDryRun makes every run a preview: preflight checks the drill and
// resolves its target and faults (read only: no sweep of earlier runs'
// leftovers), records what each fault would do and to which pods, and
// the run ends there with the verdict skipped. Nothing is injected and
// the engine does not start.
func WithDryRun() Option { return func(r *Runner) { r.dryRun = true } }

// WithTick sets how often observe and verify look at the target (default
// 1s; tests shorten it).
func WithTick(d time.Duration) Option { return func(r *Runner) { r.tick = d } }

// WithMinObserve sets how long observe watches a fault that shows no effect
// on the SLOs before it moves on (default: the SLO window plus the
// stability window).
func WithMinObserve(d time.Duration) Option { return func(r *Runner) { r.minObserve = d } }

// New returns a Runner for the cluster behind client.
func New(client kubernetes.Interface, opts ...Option) *Runner {
	r := &Runner{client: client, log: slog.New(slog.DiscardHandler), now: time.Now, tick: time.Second}
	for _, o := range opts {
		o(r)
	}
	if r.prom == nil {
		r.prom = DefaultPrometheus
	}
	if r.backends == nil {
		r.backends = NativeBackends(client, r.log)
	}
	return r
}

// NativeBackends returns a Backends that picks the native backend for every
// fault, refusing a drill that insists on chaos-mesh.
func NativeBackends(client kubernetes.Interface, log *slog.Logger) Backends {
	return func(_ context.Context, spec drills.Fault) (*scenarios.Registry, string, error) {
		if spec.Backend == drills.BackendChaosMesh {
			return nil, "", fmt.Errorf("fault %s asks for the chaos-mesh backend, which this runner was not given", spec.Name)
		}
		return scenarios.NewNativeRegistry(scenarios.Deps{Client: client, Logger: log}), "native backend", nil
	}
}

// ErrInconclusive is matched by the errors of phases that could not judge
// the drill (a baseline that does not hold, a fault that never took effect).
var ErrInconclusive = errors.New("inconclusive")

// KillSwitchPoll is how often a running drill reads the kill switch.
const KillSwitchPoll = time.Second

// inconclusive wraps a reason as an ErrInconclusive.
func inconclusive(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInconclusive, fmt.Sprintf(format, args...))
}

// Run runs one drill to the end and returns its result. The error is set
// only when the drill could not be run at all (invalid drill); every other
// outcome, also a cancelled context, is in the result's verdict, and
// teardown has run before Run returns.
func (r *Runner) Run(ctx context.Context, d *drills.Drill) (*drills.Result, error) {
	if d == nil {
		return nil, errors.New("runner: nil drill")
	}
	d.Default()
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	// The run works on its own copy: it expands the scope placeholders and
	// adds the signals generated from the target's metrics.
	d, err := runCopy(d)
	if err != nil {
		return nil, fmt.Errorf("runner: %w", err)
	}
	run := r.newRun(d)
	total := d.Spec.Timeouts.Total.Duration
	tctx, cancel := context.WithTimeout(ctx, total)
	defer cancel()
	// The kill switch: set before the drill starts or while it runs, it
	// stops the drill (inconclusive, "aborted"); teardown still removes
	// the faults.
	tctx, abort := context.WithCancelCause(tctx)
	defer abort(nil)
	watched := make(chan struct{})
	if r.client != nil {
		go func() {
			defer close(watched)
			scenarios.NewKillSwitch(r.client).Watch(tctx, KillSwitchPoll, func(a *scenarios.Abort) {
				run.event(drills.EventNote, r.now(), a.Error(), map[string]string{"abort": "true"})
				r.log.Warn("drill aborted", "drill", d.Metadata.Name, "reason", a.Error())
				abort(a)
			})
		}()
	} else {
		close(watched)
	}
	r.log.Info("drill started", "drill", d.Metadata.Name, "run", run.res.RunID)

	var failure error
	for _, p := range r.phases() {
		if failure != nil && p.name != phaseTeardown {
			run.skipPhase(p.name, "skipped after "+failure.Error())
			continue
		}
		if r.dryRun && p.name != phasePreflight && p.name != phaseTeardown {
			run.skipPhase(p.name, "dry run: nothing injected")
			continue
		}
		pctx := tctx
		if p.name == phaseTeardown {
			// Teardown always runs, with its own budget, also when the
			// drill was interrupted or ran out of time.
			pctx = context.WithoutCancel(ctx)
		}
		err := run.phase(pctx, p)
		if err != nil && failure == nil && p.name != phaseTeardown {
			failure = err
		}
		if err != nil && p.name == phaseTeardown {
			run.teardownErr = err
		}
	}
	abort(nil) // the watch ends before the result is final
	<-watched
	run.finish(ctx, failure)
	r.log.Info("drill finished", "drill", d.Metadata.Name, "verdict", run.res.Verdict, "reason", run.res.Reason)
	return run.res, nil
}

// newRun prepares the state of one run.
func (r *Runner) newRun(d *drills.Drill) *Run {
	now := r.now()
	id := fmt.Sprintf("%s-%s-%04x", d.Metadata.Name, now.UTC().Format("20060102T150405Z"), rand.Uint32()&0xffff)
	owner := r.owner
	if owner == "" {
		owner = "firedrill-" + d.Metadata.Name
	}
	src := d.Source()
	return &Run{
		r:     r,
		drill: d,
		owner: owner,
		httpc: &http.Client{Timeout: 3 * time.Second},
		guard: d.GuardEnabled() && !r.noGuard,
		res: &drills.Result{
			SchemaVersion: drills.ResultSchemaVersion,
			Drill:         d.Metadata.Name,
			Source:        src,
			RunID:         id,
			Labels:        d.Metadata.Labels,
			Started:       now,
			GuardEnabled:  d.GuardEnabled() && !r.noGuard,
		},
	}
}
