package bench_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/bench"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
	"github.com/firedrill/firedrill/engine/signals"
)

// EnvSeqRuns is the number of pushes of the sequential part per error
// rate (default 5; 0 skips the part).
const EnvSeqRuns = "BENCH_SEQ_RUNS"

// seqRates are the error rates of the sequential part's pushed revisions.
var seqRates = []float64{0.02, 0.05}

// The sequential part's bounds.
const (
	// seqMissBound is how long a push may go undetected before it counts
	// as a miss.
	seqMissBound = 3 * time.Minute
	// seqBaselineRequests is how many requests a clean revision serves
	// before the push: the test takes the previous revision's observed
	// error rate as its baseline, and 2000 requests at 0.5 % put it within
	// about ±0.16 % (one standard deviation) of the truth.
	seqBaselineRequests = 2000
	// seqBudget bounds the whole part (the suite's timeout is 45m); no
	// run starts with less than seqRunBudget of it left.
	seqBudget    = 35 * time.Minute
	seqRunBudget = 6 * time.Minute
)

// runSequential measures the guard's sequential test on its own workload
// (payment-seq): an in-process engine.Guard whose policy is only the
// bad-image drill's statistical block and strategies; for each error rate
// in seqRates, cfg.seqRuns pushes from a fresh clean revision to a
// revision failing that share of requests, timed from the push to the
// guard's first detection on the sequential test, then the revert and the
// verified recovery. The rates alternate, so that both see the same
// contention from the other parts.
func runSequential(t *testing.T, c *collector, cfg suiteConfig, st *stack.Stack, cs kubernetes.Interface) {
	if cfg.seqRuns == 0 {
		t.Skipf("sequential part disabled (%s=0)", EnvSeqRuns)
	}
	w := bench.SeqWorkload
	ctx, cancel := context.WithTimeout(context.Background(), seqBudget)
	defer cancel()
	prom, _ := startNoisy(ctx, t, cs, st, w)

	// The statistical block's expressions for payment-seq's pods,
	// generated from its metrics as firedrill run's preflight does.
	policyTarget := drills.Target{Namespace: bench.SoakNamespace, Name: w.Name}
	var m signals.Metrics
	var detectErr error
	require.NoError(t, wait.PollUntilContextTimeout(ctx, time.Second, time.Minute, true, func(ctx context.Context) (bool, error) {
		m, detectErr = signals.Detect(ctx, prom, drills.TargetScope(policyTarget), nil, time.Now())
		return detectErr == nil, nil
	}), "the metrics of %s: %v", w.Name, detectErr)
	policy, target, err := bench.SequentialGuard(loadDrill(t, example("bad-image.yaml")), w, m)
	require.NoError(t, err)
	t.Logf("sequential: guarding %s/%s with the statistical test only (%s); errors %s, total %s",
		target.Namespace, target.Name, bench.DescribeTest(policy.Statistical), policy.Statistical.ErrorsExpr, policy.Statistical.TotalExpr)

	audit, err := engine.OpenSQLiteAudit(ctx, filepath.Join(t.TempDir(), "audit.db"))
	require.NoError(t, err)
	defer audit.Close()
	events := &guardLog{}
	g, err := engine.NewGuard(policy, target, engine.WithKubernetes(cs), engine.WithPrometheus(prom), engine.WithAudit(audit),
		engine.WithLog(stacktest.Logger().With("part", "sequential")), engine.OnEvent(events.add))
	require.NoError(t, err)
	gctx, stopGuard := context.WithCancel(ctx)
	var gwg sync.WaitGroup
	gwg.Go(func() { _ = g.Run(gctx) })
	defer func() { stopGuard(); gwg.Wait() }()
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return g.Evaluations() >= 3, nil
	}), "the guard evaluates")

	c.update(t, func(r *bench.Results) {
		if r.Sequential == nil {
			r.Sequential = &bench.Sequential{}
		}
		r.Sequential.Workload = target.Namespace + "/" + target.Name
		r.Sequential.NoiseRate = bench.DefaultSoakNoise
		r.Sequential.MissBoundSeconds = seqMissBound.Seconds()
	})
	rig := &seqRig{cs: cs, prom: prom, w: w, errorsExpr: policy.Statistical.ErrorsExpr, totalExpr: policy.Statistical.TotalExpr, events: events}
	runs := map[float64][]bench.SequentialRun{}
	publish := func() {
		var ds []bench.SequentialDetection
		for _, rate := range seqRates {
			if len(runs[rate]) > 0 {
				ds = append(ds, bench.SummarizeDetection(rate, runs[rate]))
			}
		}
		c.update(t, func(r *bench.Results) { r.Sequential.Detection = ds })
	}
	for i := range cfg.seqRuns {
		for _, rate := range seqRates {
			if dl, _ := ctx.Deadline(); time.Until(dl) < seqRunBudget {
				c.errorf(t, "sequential: out of time after %d of %d runs per rate", i, cfg.seqRuns)
				return
			}
			mark := events.len()
			run, err := rig.run(ctx, rate, i)
			for _, e := range events.since(mark) {
				t.Logf("  sequential event %s %s incident=%s strategy=%s evidence=%s %s", e.Time.Format("15:04:05.000"), e.Kind, e.Incident, e.Strategy, sources(e), errString(e.Err))
			}
			if run != nil {
				runs[rate] = append(runs[rate], *run)
				publish()
				t.Logf("sequential: %g %% run %d/%d: revision %s pushed after %.0f requests at %.2f %% on the clean one; detection %s, %s at %s, recovery from %s; %s",
					100*rate, i+1, cfg.seqRuns, run.Revision, run.BaselineRequests, 100*run.BaselineErrorRate,
					secs(run.DetectionSeconds), run.Strategy, secs(run.ActionSeconds), secs(run.RecoverySeconds), run.Error)
			}
			if err != nil {
				c.errorf(t, "sequential: %g %% run %d: %v", 100*rate, i+1, err)
				if ctx.Err() != nil {
					return
				}
			}
		}
	}
	t.Logf("sequential: the guard evaluated %d times", g.Evaluations())
}

// seqRig is what a run of the sequential part works with.
type seqRig struct {
	cs   kubernetes.Interface
	prom promv1.API
	w    bench.NoisyWorkload
	// errorsExpr and totalExpr are the guard's statistical expressions.
	errorsExpr, totalExpr string
	events                *guardLog
}

// run is one push at rate: a fresh clean revision that serves its
// baseline, then the push of a revision failing rate of requests, the
// detection, the action and the verified recovery. It returns the run
// when the push happened (a miss included) and an error when something
// other than the test went wrong.
func (r *seqRig) run(ctx context.Context, rate float64, i int) (*bench.SequentialRun, error) {
	stamp := time.Now().UTC().Format("150405")
	// No incident of an earlier run left open. One that stays open (a
	// guard that handed over to a human leaves the degraded revision in
	// place) closes once a clean revision replaces it.
	if err := r.events.waitIdle(ctx, 3*time.Minute); err != nil {
		if _, cerr := r.clean(ctx, fmt.Sprintf("seq-unstick-%d-%g-%s", i+1, rate, stamp)); cerr != nil {
			return nil, errors.Join(err, cerr)
		}
		if err := r.events.waitIdle(ctx, 2*time.Minute); err != nil {
			return nil, err
		}
	}
	clean := fmt.Sprintf("seq-clean-%d-%g-%s", i+1, rate, stamp)
	mark := r.events.len()
	cleanHash, err := r.clean(ctx, clean)
	if err != nil {
		return nil, err
	}
	total, errs, err := r.served(ctx, cleanHash, seqBaselineRequests, 3*time.Minute)
	if err != nil {
		return nil, err
	}
	if e, ok := r.events.first(mark, kindOf(engine.EventDetection)); ok {
		return nil, fmt.Errorf("a false alarm on the clean revision %s (%.2f %% errors over %.0f requests): incident %s on %s; not pushed",
			cleanHash, 100*errs/total, total, e.Incident, sources(e))
	}

	run := &bench.SequentialRun{ErrorRate: rate, BaselineRequests: total, BaselineErrorRate: errs / total}
	bad := fmt.Sprintf("seq-bad-%d-%g-%s", i+1, rate, stamp)
	mark = r.events.len()
	run.Pushed = time.Now()
	if err := r.w.Push(ctx, r.cs, bad, &rate); err != nil {
		return nil, err
	}
	hash, _, err := r.w.WaitReplicaSet(ctx, r.cs, bad, time.Minute)
	if err != nil {
		return nil, errors.Join(err, r.restore(ctx, bad))
	}
	run.Revision = hash

	det, ok := r.events.waitFor(ctx, mark, time.Until(run.Pushed.Add(seqMissBound)), kindOf(engine.EventDetection))
	if !ok {
		if ctx.Err() != nil {
			return nil, ctx.Err() // cut short: not a miss
		}
		run.Error = fmt.Sprintf("no detection within %s", seqMissBound)
		return run, r.restore(ctx, bad)
	}
	src, seq := sequentialSource(det)
	switch {
	case !seq:
		run.Error = "the first detection had no sequential evidence: " + sources(det)
	case !strings.Contains(src, "revision "+hash+")"):
		run.Error = fmt.Sprintf("the first detection was %s, not on the pushed revision %s", src, hash)
	default:
		run.DetectionSeconds, run.Evidence = ptrTo(det.Time.Sub(run.Pushed).Seconds()), src
	}

	// A revert's action event comes once its rollout is done (the
	// strategy's timeout is 2m).
	act, ok := r.events.waitFor(ctx, mark, 3*time.Minute, incidentKind(det.Incident, engine.EventAction))
	if !ok {
		return run, errors.Join(fmt.Errorf("no action on incident %s within 3m", det.Incident), r.restore(ctx, bad))
	}
	run.Strategy, run.ActionSeconds = string(act.Strategy), ptrTo(act.Time.Sub(run.Pushed).Seconds())
	if act.Err != nil {
		run.Error = strings.TrimPrefix(run.Error+"; action failed: "+act.Err.Error(), "; ")
	}
	rec, ok := r.events.waitFor(ctx, mark, 3*time.Minute, incidentKind(det.Incident, engine.EventRecovery))
	if !ok {
		return run, fmt.Errorf("incident %s not verified as recovered within 3m", det.Incident)
	}
	run.RecoverySeconds = ptrTo(rec.Time.Sub(run.Pushed).Seconds())
	return run, nil
}

// clean pushes a fresh revision at the background error rate, waits for
// its rollout and returns its pod-template-hash.
func (r *seqRig) clean(ctx context.Context, token string) (string, error) {
	noise := bench.DefaultSoakNoise
	if err := r.w.Push(ctx, r.cs, token, &noise); err != nil {
		return "", err
	}
	if err := r.w.WaitRolledOut(ctx, r.cs, 3*time.Minute); err != nil {
		return "", err
	}
	hash, _, err := r.w.ReplicaSet(ctx, r.cs, token)
	return hash, err
}

// restore puts a degraded revision the guard did not revert (bad) back to
// the background error rate.
func (r *seqRig) restore(ctx context.Context, bad string) error {
	if _, err := r.clean(ctx, bad+"-restored"); err != nil {
		return fmt.Errorf("restoring the background error rate: %w", err)
	}
	return nil
}

// served waits until the revision hash has served at least n requests
// and returns its request and error counts, read with the guard's own
// expressions.
func (r *seqRig) served(ctx context.Context, hash string, n float64, timeout time.Duration) (total, errs float64, err error) {
	var last error
	err = wait.PollUntilContextTimeout(ctx, time.Second, timeout, true, func(ctx context.Context) (bool, error) {
		total, last = promScalar(ctx, r.prom, bench.RevisionQuery(r.totalExpr, hash))
		if last != nil || total < n {
			return false, nil
		}
		// No error series yet is no error.
		if errs, last = promScalar(ctx, r.prom, bench.RevisionQuery(r.errorsExpr, hash)); last != nil {
			errs, last = 0, nil
		}
		return true, nil
	})
	if err != nil {
		return 0, 0, fmt.Errorf("revision %s served %.0f of %.0f requests: %w", hash, total, n, errors.Join(err, last))
	}
	return total, errs, nil
}

// guardLog keeps the events of the sequential part's guard.
type guardLog struct {
	mu     sync.Mutex
	events []engine.Event
}

// add is the guard's OnEvent callback.
func (l *guardLog) add(e engine.Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, e)
}

func (l *guardLog) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.events)
}

// since returns the events from index from on.
func (l *guardLog) since(from int) []engine.Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events[min(from, len(l.events)):])
}

// first is the first event from index from on that matches.
func (l *guardLog) first(from int, match func(engine.Event) bool) (engine.Event, bool) {
	for _, e := range l.since(from) {
		if match(e) {
			return e, true
		}
	}
	return engine.Event{}, false
}

// waitFor waits up to timeout for an event from index from on that
// matches.
func (l *guardLog) waitFor(ctx context.Context, from int, timeout time.Duration, match func(engine.Event) bool) (engine.Event, bool) {
	var got engine.Event
	if timeout <= 0 {
		timeout = time.Millisecond
	}
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		var ok bool
		got, ok = l.first(from, match)
		return ok, nil
	})
	return got, err == nil
}

// open lists the incidents detected and not verified as recovered.
func (l *guardLog) open() []string {
	var ids []string
	for _, e := range l.since(0) {
		switch e.Kind {
		case engine.EventDetection:
			ids = append(ids, e.Incident)
		case engine.EventRecovery:
			ids = slices.DeleteFunc(ids, func(id string) bool { return id == e.Incident })
		}
	}
	return ids
}

// waitIdle waits until no incident is open.
func (l *guardLog) waitIdle(ctx context.Context, timeout time.Duration) error {
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return len(l.open()) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("incidents %v still open: %w", l.open(), err)
	}
	return nil
}

func kindOf(k engine.EventKind) func(engine.Event) bool {
	return func(e engine.Event) bool { return e.Kind == k }
}

func incidentKind(id string, k engine.EventKind) func(engine.Event) bool {
	return func(e engine.Event) bool { return e.Kind == k && e.Incident == id }
}

// sequentialSource is the source of the event's sequential evidence.
func sequentialSource(e engine.Event) (string, bool) {
	for _, ev := range e.Evidence {
		if ev.Kind == engine.EvidenceSequential {
			return ev.Source, true
		}
	}
	return "", false
}

func sources(e engine.Event) string {
	var s []string
	for _, ev := range e.Evidence {
		s = append(s, string(ev.Kind)+":"+ev.Source)
	}
	return "[" + strings.Join(s, " ") + "]"
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return "error=" + err.Error()
}

func secs(v *float64) string {
	if v == nil {
		return "—"
	}
	return fmt.Sprintf("%.1f s", *v)
}

func ptrTo[T any](v T) *T { return &v }
