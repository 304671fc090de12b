package engine_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
	"github.com/firedrill/firedrill/runner/traffic"
)

// The integration test runs the guard against the real demo stack, shared
// by the test binary: it holds the machine's local-cluster lock from the
// first use until TestMain has taken the stack down.
var shared = &stacktest.Shared{Name: "fdeng", SourceDir: ".."}

func TestMain(m *testing.M) { shared.Main(m) }

const errorRatio = `sum(rate(http_requests_total{code=~"5.."}[15s])) / sum(rate(http_requests_total[15s]))`

// TestGuardRevertsBadImage pushes payment:v2-buggy under 50 req/s and
// checks that the guard, with the bad-image drill's policy, reverts it to
// payment:v1 and audits it; it logs MTTD (push → decision) and MTTR (push
// → error ratio back under 1%).
func TestGuardRevertsBadImage(t *testing.T) {
	st := shared.Stack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 6*time.Minute)
	defer cancel()

	cfg, err := st.Cluster().RESTConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	pc, err := promapi.NewClient(promapi.Config{Address: st.Prometheus().URL()})
	require.NoError(t, err)
	prom := promv1.NewAPI(pc)

	ds, err := drills.LoadFile(filepath.Join("..", "drills", "examples", "bad-image.yaml"))
	require.NoError(t, err)
	d := ds[0]
	// The drill's error-ratio rule has no data while no request fails (its
	// numerator has no 5xx series), which HOLDs the rule: the guard would
	// act on the other signals but never see the rules clear to verify
	// the recovery. Count no 5xx as zero.
	for i, r := range d.Spec.Guard.Rules {
		if r.Expr == errorRatio {
			d.Spec.Guard.Rules[i].Expr = `(sum(rate(http_requests_total{code=~"5.."}[15s])) or vector(0)) / sum(rate(http_requests_total[15s]))`
		}
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		setImage(cctx, t, cs, "payment:v1")
		require.NoError(t, stack.WaitAvailable(cctx, cs, stack.Namespace, stack.Deployment, 2*time.Minute))
	})

	// Traffic at the drill's 50 req/s.
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

	store, err := engine.OpenSQLiteAudit(ctx, filepath.Join(t.TempDir(), "audit.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	var (
		mu     sync.Mutex
		events []engine.Event
	)
	of := func(k engine.EventKind) []engine.Event {
		mu.Lock()
		defer mu.Unlock()
		var out []engine.Event
		for _, e := range events {
			if e.Kind == k {
				out = append(out, e)
			}
		}
		return out
	}
	g, err := engine.NewGuard(*d.Spec.Guard, d.Spec.Target, engine.WithKubernetes(cs), engine.WithPrometheus(prom),
		engine.WithAudit(store), engine.WithLog(slog.New(slog.NewTextHandler(tlog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))), engine.OnEvent(func(e engine.Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
			t.Logf("guard event %s at %s", e.Kind, e.Time.Format(time.RFC3339Nano))
		}))
	require.NoError(t, err)
	gctx, stopGuard := context.WithCancel(ctx)
	var gwg sync.WaitGroup
	gwg.Go(func() { _ = g.Run(gctx) })
	t.Cleanup(func() { stopGuard(); gwg.Wait() })

	// v1 under load: the guard evaluates and stays quiet.
	require.Eventually(t, func() bool { return g.Evaluations() >= 5 }, time.Minute, 100*time.Millisecond)
	require.Empty(t, of(engine.EventDetection), "no anomaly on payment:v1")

	push := time.Now()
	setImage(ctx, t, cs, "payment:v2-buggy")
	require.Eventually(t, func() bool { return len(of(engine.EventAction)) > 0 }, 4*time.Minute, 100*time.Millisecond)
	dec := of(engine.EventDecision)[0]
	act := of(engine.EventAction)[0]
	require.NoError(t, act.Err)
	require.Equal(t, drills.StrategyRevert, act.Strategy)
	mttd := dec.Time.Sub(push)

	dep, err := cs.AppsV1().Deployments(stack.Namespace).Get(ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "payment:v1", dep.Spec.Template.Spec.Containers[0].Image)

	waitProm(ctx, t, prom, errorRatio, func(v float64) bool { return v < 0.01 }, 2*time.Minute)
	mttr := time.Since(push)
	t.Logf("bad image payment:v2-buggy: MTTD (push → decision) %s, MTTR (push → error ratio < 1%%) %s; decision: %s",
		mttd.Round(time.Millisecond), mttr.Round(time.Millisecond), dec.Decision.Reason)

	// Every signal clears (the sequential test does not take the reverted
	// bad release as its baseline) and stays clear for the verify window.
	require.Eventually(t, func() bool { return len(of(engine.EventRecovery)) > 0 }, 2*time.Minute, 100*time.Millisecond)
	rec := of(engine.EventRecovery)[0]
	require.Equal(t, act.Incident, rec.Incident)
	t.Logf("guard verified the recovery: signals clear since %s (push + %s)", rec.Time.Format(time.RFC3339Nano), rec.Time.Sub(push).Round(time.Millisecond))

	rows, err := store.List(ctx, time.Time{})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "payment:v2-buggy", rows[0].FromVersion)
	require.Equal(t, "payment:v1", rows[0].ToVersion)
	require.True(t, rows[0].Success)
	require.Equal(t, "revert", rows[0].Strategy)
}

// setImage sets the payment container's image.
func setImage(ctx context.Context, t *testing.T, cs kubernetes.Interface, image string) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := cs.AppsV1().Deployments(stack.Namespace).Get(ctx, stack.Deployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range dep.Spec.Template.Spec.Containers {
			if dep.Spec.Template.Spec.Containers[i].Name == "payment" {
				dep.Spec.Template.Spec.Containers[i].Image = image
			}
		}
		_, err = cs.AppsV1().Deployments(stack.Namespace).Update(ctx, dep, metav1.UpdateOptions{})
		return err
	}))
}

// waitProm polls expr until ok holds for its value.
func waitProm(ctx context.Context, t *testing.T, prom promv1.API, expr string, ok func(float64) bool, timeout time.Duration) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		v, _, _, err := prom.Query(ctx, expr, time.Time{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		vec, _ := v.(model.Vector)
		if len(vec) == 0 {
			last = "no data"
			return false, nil
		}
		last = vec[0].Value.String()
		return ok(float64(vec[0].Value)), nil
	})
	require.NoError(t, err, "%s never met the condition (last %s)", expr, last)
}

// tlog writes log lines to the test's log.
type tlog struct{ t *testing.T }

func (w tlog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
