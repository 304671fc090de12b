package engine_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
	"github.com/firedrill/firedrill/engine/signals"
	"github.com/firedrill/firedrill/runner/traffic"
)

// latencyP99 is the bad-image drill's LatencySpike expression.
const latencyP99 = `histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket[15s])))`

// scenario is one release scenario against the shared demo stack: clients,
// the bad-image drill, traffic at its rate, and payment:v1 rolled out and
// available again when the test ends.
type scenario struct {
	t     *testing.T
	ctx   context.Context
	cs    kubernetes.Interface
	prom  promv1.API
	drill *drills.Drill
}

// newScenario starts traffic and registers the cleanups (in LIFO order:
// guards stop first, then traffic, then payment:v1 is restored).
func newScenario(t *testing.T, timeout time.Duration) *scenario {
	t.Helper()
	return newScenarioOf(t, timeout, "bad-image.yaml")
}

// newScenarioOf is newScenario with the drill of drills/examples/file: its
// traffic and its guard, completed as firedrill run's preflight does.
func newScenarioOf(t *testing.T, timeout time.Duration, file string) *scenario {
	t.Helper()
	st := shared.Stack(t)
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)

	cfg, err := st.Cluster().RESTConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	pc, err := promapi.NewClient(promapi.Config{Address: st.Prometheus().URL()})
	require.NoError(t, err)
	prom := promv1.NewAPI(pc)

	ds, err := drills.LoadFile(filepath.Join("..", "drills", "examples", file))
	require.NoError(t, err)
	d := ds[0]

	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		// A guard that handed over to a human paused the Deployment:
		// the next test needs it rolling again.
		require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
			dep, err := cs.AppsV1().Deployments(stack.Namespace).Get(cctx, stack.Deployment, metav1.GetOptions{})
			if err != nil || !dep.Spec.Paused {
				return err
			}
			dep.Spec.Paused = false
			_, err = cs.AppsV1().Deployments(stack.Namespace).Update(cctx, dep, metav1.UpdateOptions{})
			return err
		}))
		setImage(cctx, t, cs, "payment:v1")
		require.NoError(t, stack.WaitAvailable(cctx, cs, stack.Namespace, stack.Deployment, 2*time.Minute))
		dep, err := cs.AppsV1().Deployments(stack.Namespace).Get(cctx, stack.Deployment, metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, "payment:v1", dep.Spec.Template.Spec.Containers[0].Image)
	})

	targets, err := traffic.NewServiceTargets(ctx, cs, stack.Namespace, stack.Service, traffic.WithPortName("http"))
	require.NoError(t, err)
	t.Cleanup(targets.Close)
	gen, err := traffic.New(targets, *d.Spec.Traffic)
	require.NoError(t, err)
	tctx, stopTraffic := context.WithCancel(ctx)
	var twg sync.WaitGroup
	twg.Go(func() { _ = gen.Run(tctx) })
	t.Cleanup(func() { stopTraffic(); twg.Wait() })
	waitProm(ctx, t, prom, engine.DefaultRequestRateExpr, func(v float64) bool { return v > 10 }, time.Minute)

	// The drill leaves its rules to the signals generated from the
	// target's metrics, as firedrill run's preflight does.
	sc := drills.TargetScope(d.Spec.Target)
	var m signals.Metrics
	require.Eventually(t, func() bool {
		m, err = signals.Detect(ctx, prom, sc, d.Spec.Target.Metrics, time.Now())
		return err == nil
	}, time.Minute, 250*time.Millisecond, "the payment service's metrics are detected")
	o := signals.Options{}
	if p := d.Spec.SLO.P99; p != nil {
		o.P99 = p.Duration
	}
	signals.Apply(d.Spec.Guard, m, sc, o)
	require.NoError(t, d.ExpandScope())

	return &scenario{t: t, ctx: ctx, cs: cs, prom: prom, drill: d}
}

// audit opens a fresh SQLite audit file.
func (s *scenario) audit() *engine.SQLiteAudit {
	s.t.Helper()
	store, err := engine.OpenSQLiteAudit(s.ctx, filepath.Join(s.t.TempDir(), "audit.db"))
	require.NoError(s.t, err)
	s.t.Cleanup(func() { _ = store.Close() })
	return store
}

// recorder keeps the events of one or more guards.
type recorder struct {
	t      *testing.T
	mu     sync.Mutex
	events []recorded
}

type recorded struct {
	guard string
	engine.Event
}

// on returns the OnEvent option of the guard named name.
func (r *recorder) on(name string) engine.Option {
	return engine.OnEvent(func(e engine.Event) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.events = append(r.events, recorded{guard: name, Event: e})
		r.t.Logf("guard %s event %s at %s", name, e.Kind, e.Time.Format(time.RFC3339Nano))
	})
}

// of returns the events of kind k, of every guard.
func (r *recorder) of(k engine.EventKind) []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []recorded
	for _, e := range r.events {
		if e.Kind == k {
			out = append(out, e)
		}
	}
	return out
}

// run runs g until the test ends.
func (s *scenario) run(g *engine.Guard) {
	gctx, stop := context.WithCancel(s.ctx)
	var wg sync.WaitGroup
	wg.Go(func() { _ = g.Run(gctx) })
	s.t.Cleanup(func() { stop(); wg.Wait() })
}

// logger logs the guard named name to the test log.
func (s *scenario) logger(name string) engine.Option {
	return engine.WithLog(slog.New(slog.NewTextHandler(tlog{s.t}, &slog.HandlerOptions{Level: slog.LevelInfo})).With("guard", name))
}

// deployment reads the payment Deployment.
func (s *scenario) deployment() (image string, revision int64, annotations map[string]string) {
	s.t.Helper()
	dep, err := s.cs.AppsV1().Deployments(stack.Namespace).Get(s.ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(s.t, err)
	rev, _ := strconv.ParseInt(dep.Annotations["deployment.kubernetes.io/revision"], 10, 64)
	return dep.Spec.Template.Spec.Containers[0].Image, rev, dep.Annotations
}

// waitRecovery waits for the guard to verify the recovery of incident:
// every signal clear for the verify window, so no further action follows.
func waitRecovery(t *testing.T, rec *recorder, incident string, push time.Time) engine.Event {
	t.Helper()
	var got engine.Event
	require.Eventually(t, func() bool {
		for _, r := range rec.of(engine.EventRecovery) {
			if r.Incident == incident {
				got = r.Event
				return true
			}
		}
		return false
	}, 90*time.Second, 100*time.Millisecond, "incident %s never verified as recovered", incident)
	t.Logf("guard verified the recovery at push + %s (signals clear since push + %s)",
		time.Since(push).Round(time.Millisecond), got.Time.Sub(push).Round(time.Millisecond))
	return got
}

// TestGuardRevertsSlowRelease pushes payment:v2-slow (~1.5 s per ledger
// request) under 50 req/s and checks that the guard, with the bad-image
// policy's LatencySpike rule made critical, reverts it to payment:v1.
func TestGuardRevertsSlowRelease(t *testing.T) {
	s := newScenario(t, 3*time.Minute)
	policy := *s.drill.Spec.Guard
	policy.Rules = append([]drills.Rule(nil), policy.Rules...)
	found := false
	for i, r := range policy.Rules {
		if r.Name == "LatencySpike" {
			policy.Rules[i].Severity = drills.SeverityCritical
			policy.Rules[i].Threshold = 1
			policy.Rules[i].For = drills.D(5 * time.Second)
			found = true
		}
	}
	require.True(t, found, "the bad-image policy has a LatencySpike rule")
	// The p99 over its 15s rate window stays above 1s for up to ~15s after
	// the last slow request: verify long enough that the revert is judged
	// after the window has drained, not handed over to the human.
	policy.VerifyWindow = drills.D(30 * time.Second)

	store := s.audit()
	rec := &recorder{t: t}
	g, err := engine.NewGuard(policy, s.drill.Spec.Target, engine.WithKubernetes(s.cs), engine.WithPrometheus(s.prom),
		engine.WithAudit(store), s.logger("slow"), rec.on("slow"))
	require.NoError(t, err)
	s.run(g)
	require.Eventually(t, func() bool { return g.Evaluations() >= 3 }, 30*time.Second, 100*time.Millisecond)
	require.Empty(t, rec.of(engine.EventDetection), "no anomaly on payment:v1")

	push := time.Now()
	setImage(s.ctx, t, s.cs, "payment:v2-slow")
	require.Eventually(t, func() bool { return len(rec.of(engine.EventAction)) > 0 }, 75*time.Second, 100*time.Millisecond)
	dec := rec.of(engine.EventDecision)[0]
	act := rec.of(engine.EventAction)[0]
	require.NoError(t, act.Err)
	require.Equal(t, drills.StrategyRevert, act.Strategy)
	require.Contains(t, dec.Decision.Reason, "LatencySpike")
	mttd := dec.Time.Sub(push)
	img, _, _ := s.deployment()
	require.Equal(t, "payment:v1", img)

	waitProm(s.ctx, t, s.prom, latencyP99, func(v float64) bool { return v < 1 }, time.Minute)
	mttr := time.Since(push)
	t.Logf("slow release payment:v2-slow: MTTD (push → decision) %s, MTTR (push → p99 < 1s) %s; decision: %s",
		mttd.Round(time.Millisecond), mttr.Round(time.Millisecond), dec.Decision.Reason)
	waitRecovery(t, rec, act.Incident, push)
	require.Len(t, rec.of(engine.EventAction), 1, "one action")

	rows, err := store.List(s.ctx, time.Time{})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "payment:v2-slow", rows[0].FromVersion)
	require.Equal(t, "payment:v1", rows[0].ToVersion)
	require.True(t, rows[0].Success)
	require.Equal(t, "revert", rows[0].Strategy)
}

// TestGuardRevertsCrashingRelease pushes payment:v2-crash and checks that
// a guard with only the CrashLoopBackOff Kubernetes signal (no PromQL)
// reverts it to payment:v1, naming the signal in its decision.
func TestGuardRevertsCrashingRelease(t *testing.T) {
	s := newScenario(t, 3*time.Minute)
	policy := *s.drill.Spec.Guard
	policy.Rules = nil
	policy.Statistical = nil
	policy.Kubernetes = &drills.KubernetesSignals{CrashLoop: true, For: drills.D(5 * time.Second)}

	store := s.audit()
	rec := &recorder{t: t}
	g, err := engine.NewGuard(policy, s.drill.Spec.Target, engine.WithKubernetes(s.cs),
		engine.WithAudit(store), s.logger("crash"), rec.on("crash"))
	require.NoError(t, err)
	s.run(g)
	require.Eventually(t, func() bool { return g.Evaluations() >= 3 }, 30*time.Second, 100*time.Millisecond)
	require.Empty(t, rec.of(engine.EventDetection), "no anomaly on payment:v1")

	push := time.Now()
	setImage(s.ctx, t, s.cs, "payment:v2-crash")
	require.Eventually(t, func() bool { return len(rec.of(engine.EventAction)) > 0 }, 75*time.Second, 100*time.Millisecond)
	det := rec.of(engine.EventDetection)[0]
	dec := rec.of(engine.EventDecision)[0]
	act := rec.of(engine.EventAction)[0]
	require.NoError(t, act.Err)
	require.Equal(t, drills.StrategyRevert, act.Strategy)
	require.Contains(t, dec.Decision.Reason, engine.SignalCrashLoop)
	var sources []string
	for _, e := range det.Evidence {
		sources = append(sources, e.Source)
	}
	require.Equal(t, []string{engine.SignalCrashLoop}, sources)
	mttd := dec.Time.Sub(push)
	img, _, _ := s.deployment()
	require.Equal(t, "payment:v1", img)

	require.NoError(t, stack.WaitAvailable(s.ctx, s.cs, stack.Namespace, stack.Deployment, time.Minute))
	// The rollout never lowered availability (maxUnavailable: 0), so
	// recovery is the CrashLoopBackOff signal clearing.
	recovered := waitRecovery(t, rec, act.Incident, push)
	mttr := recovered.Time.Sub(push)
	t.Logf("crashing release payment:v2-crash: MTTD (push → decision) %s, MTTR (push → CrashLoopBackOff clear) %s; decision: %s",
		mttd.Round(time.Millisecond), mttr.Round(time.Millisecond), dec.Decision.Reason)
	require.Len(t, rec.of(engine.EventAction), 1, "one action")

	rows, err := store.List(s.ctx, time.Time{})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "payment:v2-crash", rows[0].FromVersion)
	require.Equal(t, "payment:v1", rows[0].ToVersion)
	require.True(t, rows[0].Success)
	require.Contains(t, rows[0].Reason+" "+dec.Decision.Reason, engine.SignalCrashLoop)
}

// TestTwoGuardReplicasRollBackOnce runs two guards that share one Lease
// against one payment:v2-buggy push: only the leader acts, so there is
// exactly one revert, one audit row and one rollback record.
func TestTwoGuardReplicasRollBackOnce(t *testing.T) {
	s := newScenario(t, 3*time.Minute)
	policy := *s.drill.Spec.Guard
	lease := fmt.Sprintf("firedrill-guard-test-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = s.cs.CoordinationV1().Leases(stack.Namespace).Delete(cctx, lease, metav1.DeleteOptions{})
	})

	rec := &recorder{t: t}
	names := []string{"guard-a", "guard-b"}
	stores := make([]*engine.SQLiteAudit, len(names))
	guards := make([]*engine.Guard, len(names))
	for i, name := range names {
		stores[i] = s.audit()
		g, err := engine.NewGuard(policy, s.drill.Spec.Target, engine.WithKubernetes(s.cs), engine.WithPrometheus(s.prom),
			engine.WithAudit(stores[i]), s.logger(name), rec.on(name),
			engine.WithLeaderElection(engine.LeaderElection{
				Namespace: stack.Namespace, Name: lease, Identity: name,
				LeaseDuration: 6 * time.Second, RenewDeadline: 4 * time.Second, RetryPeriod: time.Second,
			}))
		require.NoError(t, err)
		guards[i] = g
		s.run(g)
	}
	evals := func() (a, b int64) { return guards[0].Evaluations(), guards[1].Evaluations() }
	require.Eventually(t, func() bool { a, b := evals(); return a+b >= 3 }, time.Minute, 100*time.Millisecond)
	a, b := evals()
	require.True(t, (a == 0) != (b == 0), "exactly one guard leads (evaluations %d, %d)", a, b)
	require.Empty(t, rec.of(engine.EventDetection), "no anomaly on payment:v1")

	_, revBefore, annBefore := s.deployment()
	push := time.Now()
	setImage(s.ctx, t, s.cs, "payment:v2-buggy")
	require.Eventually(t, func() bool { return len(rec.of(engine.EventAction)) > 0 }, 75*time.Second, 100*time.Millisecond)
	act := rec.of(engine.EventAction)[0]
	require.NoError(t, act.Err)
	require.Equal(t, drills.StrategyRevert, act.Strategy)
	dec := rec.of(engine.EventDecision)[0]
	t.Logf("two replicas, payment:v2-buggy: MTTD (push → decision) %s by %s", dec.Time.Sub(push).Round(time.Millisecond), act.guard)

	// The incident closes (every signal clear for the verify window):
	// nothing is left for either replica to act on.
	waitRecovery(t, rec, act.Incident, push)

	require.Len(t, rec.of(engine.EventDecision), 1, "one decision across both replicas")
	require.Len(t, rec.of(engine.EventAction), 1, "one action across both replicas")
	var rows []drills.AuditRecord
	for _, st := range stores {
		r, err := st.List(s.ctx, time.Time{})
		require.NoError(t, err)
		rows = append(rows, r...)
	}
	require.Len(t, rows, 1, "one audit row across both replicas")
	require.Equal(t, "payment:v2-buggy", rows[0].FromVersion)
	require.Equal(t, "payment:v1", rows[0].ToVersion)
	require.True(t, rows[0].Success)
	require.True(t, strings.HasPrefix(rows[0].RollbackID, act.Incident), "row %s is of incident %s", rows[0].RollbackID, act.Incident)

	// One rollback in the revision history: v1 (revBefore) → v2-buggy
	// (revBefore+1) → v1 again (revBefore+2), with the record written once.
	img, rev, ann := s.deployment()
	require.Equal(t, "payment:v1", img)
	require.Equal(t, revBefore+2, rev, "one push and one rollback")
	raw, ok := ann[engine.AnnotationRollbackOf]
	require.True(t, ok, "the revert wrote %s", engine.AnnotationRollbackOf)
	require.NotEqual(t, annBefore[engine.AnnotationRollbackOf], raw, "a new rollback record")
	var record struct {
		FromRevision int64  `json:"fromRevision"`
		ToRevision   int64  `json:"toRevision"`
		Incident     string `json:"incident"`
	}
	require.NoError(t, json.Unmarshal([]byte(raw), &record))
	require.Equal(t, revBefore+1, record.FromRevision)
	require.Equal(t, revBefore, record.ToRevision)
	require.Equal(t, act.Incident, record.Incident)
}
