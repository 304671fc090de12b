package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine/signals"
	"github.com/firedrill/firedrill/internal/workload"
	"github.com/firedrill/firedrill/runner/traffic"
	"github.com/firedrill/firedrill/scenarios"
)

// DefaultPrometheus is the client_golang HTTP API at url.
func DefaultPrometheus(url string) (promv1.API, error) {
	c, err := promapi.NewClient(promapi.Config{Address: url})
	if err != nil {
		return nil, err
	}
	return promv1.NewAPI(c), nil
}

// TrafficOption configures the traffic generator's Service targets.
type TrafficOption = traffic.ServiceOption

// targetSnapshot is the target as it was before the drill: what teardown
// puts back.
type targetSnapshot struct {
	kind     drills.TargetKind
	template corev1.PodTemplateSpec
	replicas *int32
	paused   bool
	strategy appsv1.DeploymentStrategy // a Deployment's only
	revision string
	selector map[string]string // the Service's
	hasSvc   bool
	// marks are the target's firedrill.dev/ annotations (fault records,
	// the engine's rollback record) before the drill.
	marks map[string]string
}

// markPrefix prefixes the annotations firedrill writes on targets.
const markPrefix = "firedrill.dev/"

// marksOf returns the firedrill.dev/ annotations of ann.
func marksOf(ann map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range ann {
		if strings.HasPrefix(k, markPrefix) {
			out[k] = v
		}
	}
	return out
}

// preflight checks that the drill can run: the target exists and is
// healthy, Prometheus answers, every fault can be built on a backend; it
// sweeps what crashed runs left behind and starts watching the Service's
// endpoints.
func (run *Run) preflight(ctx context.Context) error {
	d := run.drill
	t := d.Spec.Target
	cs := run.r.client
	if cs == nil {
		return errors.New("no Kubernetes client")
	}
	wc, err := workload.For(t.Kind, cs, run.r.dyn)
	if err != nil {
		return fmt.Errorf("target %s %s/%s: %w", t.Kind, t.Namespace, t.Name, err)
	}

	// Safety before anything is touched (even the sweep): every namespace
	// the drill acts in has opted in, and no network or process fault can
	// land on a pod that shares the node's namespaces.
	if err := run.checkTargetsSafe(ctx); err != nil {
		return err
	}

	// Leftovers of a crashed run go first, so that the target is judged
	// as it really is: everything an earlier run of this drill (same
	// owner) left, whatever its expiry (a drill killed with SIGKILL never
	// ran its teardown), and every other drill's expired faults.
	sweeper := scenarios.NewSweeper(scenarios.Deps{Client: cs, Dynamic: run.r.dyn, Logger: run.r.log})
	var swept []string
	sweeps := []scenarios.SweepOptions{
		{Namespace: t.Namespace, Owner: run.owner},
		{Namespace: t.Namespace, Network: true},
	}
	if run.r.dryRun {
		sweeps = nil
		run.event(drills.EventNote, run.r.now(), "dry run: leftovers of earlier runs are not swept", nil)
	}
	for _, o := range sweeps {
		done, err := sweeper.Sweep(ctx, o)
		if err != nil {
			return fmt.Errorf("sweeping faults left by earlier runs: %w", err)
		}
		swept = append(swept, done...)
	}
	for _, s := range swept {
		run.event(drills.EventNote, run.r.now(), "removed a fault left by an earlier run: "+s, nil)
	}

	var w *workload.Workload
	err = wait.PollUntilContextCancel(ctx, time.Second, true, func(ctx context.Context) (bool, error) {
		got, err := wc.Get(ctx, t.Namespace, t.Name)
		if err != nil {
			return false, fmt.Errorf("target %s %s/%s: %w", wc.Kind(), t.Namespace, t.Name, err)
		}
		w = got
		return w.Healthy, nil
	})
	if err != nil {
		if w != nil && ctx.Err() != nil {
			return fmt.Errorf("target %s is not healthy (%s)", w, w.Status)
		}
		return err
	}
	if t.Container != "" {
		if _, err := w.ContainerName(workload.Choice{Field: "spec.target.container", Name: t.Container}); err != nil {
			return err
		}
	}
	snap := &targetSnapshot{
		kind:     w.Kind,
		template: *w.Template.DeepCopy(),
		replicas: w.Replicas,
		paused:   w.Paused,
		revision: w.Revision,
		marks:    marksOf(w.Annotations),
	}
	if dep, ok := w.Object.(*appsv1.Deployment); ok {
		snap.strategy = *dep.Spec.Strategy.DeepCopy()
	}
	svc, err := cs.CoreV1().Services(t.Namespace).Get(ctx, t.Service, metav1.GetOptions{})
	switch {
	case err == nil:
		snap.hasSvc = true
		snap.selector = svc.Spec.Selector
	case d.Spec.Traffic != nil:
		return fmt.Errorf("target Service %s/%s: %w", t.Namespace, t.Service, err)
	}
	run.snapshot = snap
	run.event(drills.EventNote, run.r.now(), fmt.Sprintf("target %s/%s healthy at revision %s (%d replicas)",
		t.Namespace, t.Name, snap.revision, w.ReplicaCount()), map[string]string{"revision": snap.revision})

	if d.Spec.Prometheus != nil {
		api, err := run.r.prom(d.Spec.Prometheus.URL)
		if err != nil {
			return fmt.Errorf("prometheus %s: %w", d.Spec.Prometheus.URL, err)
		}
		if _, _, _, err := api.Query(ctx, "up", run.r.now()); err != nil {
			return fmt.Errorf("prometheus %s is not answering: %w", d.Spec.Prometheus.URL, err)
		}
		run.prom = api
		// The scrape interval first: the drill's own windows are checked
		// against it, and the generated ones are made long enough for it.
		run.scrapeSel = w.Selector
		if err := run.checkScrape(ctx, t.Namespace, w.Selector); err != nil {
			return err
		}
		// The target's metrics: a workload whose counters appear with its
		// first request may have none before the drill's traffic starts;
		// the baseline tries again while traffic flows.
		if err := run.resolveSignals(ctx); err != nil {
			if !errors.Is(err, signals.ErrNoMetrics) || d.Spec.Traffic == nil {
				return fmt.Errorf("target metrics: %w", err)
			}
			run.event(drills.EventNote, run.r.now(), "target metrics not found yet, looking again once traffic flows: "+err.Error(), nil)
		}
	} else if run.guard && len(d.Spec.Guard.Rules) > 0 {
		return errors.New("the guard has PromQL rules but the drill names no spec.prometheus.url")
	}

	for _, spec := range d.Spec.Faults {
		reg, why, err := run.r.backends(ctx, spec)
		if err != nil {
			return fmt.Errorf("fault %s: choosing a backend: %w", spec.Name, err)
		}
		reg = reg.WithOwner(run.owner).WithDynamic(run.r.dyn)
		if d.Spec.Traffic != nil {
			reg = reg.WithTraffic(run.trafficEvidence())
		}
		if len(d.Spec.SLO.Consistency) > 0 {
			reg = reg.WithInvariants(invariants{run: run})
		}
		f, err := reg.Build(ctx, spec, t)
		if err != nil {
			return fmt.Errorf("fault %s: %w", spec.Name, err)
		}
		run.faults = append(run.faults, &injected{spec: spec, fault: f, backend: string(reg.Backend())})
		run.event(drills.EventNote, run.r.now(), fmt.Sprintf("fault %s: %s (%s)", spec.Name, f.Describe(), why),
			map[string]string{"fault": spec.Name, "backend": string(reg.Backend())})
		if run.r.dryRun {
			run.previewFault(ctx, spec, f)
		}
	}

	if snap.hasSvc {
		opts := append([]TrafficOption{traffic.WithServiceLogger(run.r.log)}, run.r.trafficOpt...)
		if t.Port != 0 {
			opts = append(opts, traffic.WithPortNumber(int32(t.Port)))
		}
		// The watch outlives this phase: teardown closes it.
		tg, err := traffic.NewServiceTargets(context.WithoutCancel(ctx), cs, t.Namespace, t.Service, opts...)
		if err != nil {
			return err
		}
		run.targets = tg
		if d.Spec.Traffic != nil {
			if err := run.chooseTrafficPath(ctx, cs, opts); err != nil {
				return err
			}
		}
	}
	return nil
}

// previewFault records, in a dry run, what the fault would do and the pods
// its selector matches now (its mode picks among them at injection).
func (run *Run) previewFault(ctx context.Context, spec drills.Fault, f scenarios.Fault) {
	msg := fmt.Sprintf("dry run: fault %s would %s", spec.Name, f.Describe())
	c, err := scenarios.CandidatePods(ctx, run.r.client, spec, run.drill.Spec.Target)
	switch {
	case err != nil:
		msg += fmt.Sprintf("; its pods could not be listed: %v", err)
	default:
		names := make([]string, len(c.Pods))
		for i, p := range c.Pods {
			names[i] = p.Name
		}
		mode := drills.ModeOne // Default sets it; this only keeps a nil selector safe
		if spec.Selector != nil && spec.Selector.Mode != "" {
			mode = spec.Selector.Mode
		}
		msg += fmt.Sprintf("; mode %s of the %d pod(s) matching %s in %s: %s", mode, len(c.Pods), c.Selector, c.Namespace, strings.Join(names, ", "))
	}
	run.event(drills.EventNote, run.r.now(), msg, map[string]string{"fault": spec.Name, "dryRun": "true"})
}

// checkTargetsSafe refuses the drill unless the target's namespace and
// every fault's selector namespace are opted in (labelled
// firedrill.dev/drills=enabled, or allowed by WithAllowedNamespaces), and
// unless every network or process fault's candidate pods are neither
// hostNetwork, hostPID nor privileged. It only reads.
func (run *Run) checkTargetsSafe(ctx context.Context) error {
	d := run.drill
	t := d.Spec.Target
	seen := map[string]bool{}
	for _, ns := range append([]string{t.Namespace}, faultNamespaces(d.Spec.Faults, t)...) {
		if seen[ns] {
			continue
		}
		seen[ns] = true
		if err := scenarios.CheckOptIn(ctx, run.r.client, ns, run.r.allowNS); err != nil {
			return err
		}
	}
	for _, spec := range d.Spec.Faults {
		if err := scenarios.CheckFaultTargets(ctx, run.r.client, spec, t); err != nil {
			return fmt.Errorf("fault %s: %w", spec.Name, err)
		}
	}
	return nil
}

func faultNamespaces(faults []drills.Fault, t drills.Target) []string {
	var out []string
	for _, f := range faults {
		out = append(out, scenarios.FaultNamespace(f, t))
	}
	return out
}

// describeTargets names the pods a fault hit.
func describeTargets(ts []scenarios.Target) string {
	var names []string
	for _, t := range ts {
		names = append(names, t.Name)
	}
	return strings.Join(names, ", ")
}
