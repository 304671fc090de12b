package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
)

// The integration test runs the guard against the real demo stack, shared
// by the test binary: it holds the machine's local-cluster lock from the
// first use until TestMain has taken the stack down.
var shared = &stacktest.Shared{Name: "fdeng", SourceDir: ".."}

func TestMain(m *testing.M) { shared.Main(m) }

// TestGuardRevertsBadImage pushes payment:v2-buggy under 50 req/s and
// checks that the guard, with the bad-image drill's policy, reverts it to
// payment:v1 and audits it; it logs MTTD (push → decision) and MTTR (push
// → error ratio back under 1%).
func TestGuardRevertsBadImage(t *testing.T) {
	s := newScenario(t, 6*time.Minute)
	var errorRatio string
	for _, r := range s.drill.Spec.Guard.Rules {
		if r.Name == "HighErrorRate" {
			errorRatio = r.Expr
		}
	}
	require.NotEmpty(t, errorRatio, "the bad-image policy has a HighErrorRate rule")

	store := s.audit()
	rec := &recorder{t: t}
	g, err := engine.NewGuard(*s.drill.Spec.Guard, s.drill.Spec.Target, engine.WithKubernetes(s.cs), engine.WithPrometheus(s.prom),
		engine.WithAudit(store), s.logger("bad-image"), rec.on("bad-image"))
	require.NoError(t, err)
	s.run(g)

	// v1 under load: the guard evaluates and stays quiet.
	require.Eventually(t, func() bool { return g.Evaluations() >= 5 }, time.Minute, 100*time.Millisecond)
	require.Empty(t, rec.of(engine.EventDetection), "no anomaly on payment:v1")

	push := time.Now()
	setImage(s.ctx, t, s.cs, "payment:v2-buggy")
	require.Eventually(t, func() bool { return len(rec.of(engine.EventAction)) > 0 }, 4*time.Minute, 100*time.Millisecond)
	dec := rec.of(engine.EventDecision)[0]
	act := rec.of(engine.EventAction)[0]
	require.NoError(t, act.Err)
	require.Equal(t, drills.StrategyRevert, act.Strategy)
	mttd := dec.Time.Sub(push)

	image, _, _ := s.deployment()
	require.Equal(t, "payment:v1", image)

	waitProm(s.ctx, t, s.prom, errorRatio, func(v float64) bool { return v < 0.01 }, 2*time.Minute)
	mttr := time.Since(push)
	t.Logf("bad image payment:v2-buggy: MTTD (push → decision) %s, MTTR (push → error ratio < 1%%) %s; decision: %s",
		mttd.Round(time.Millisecond), mttr.Round(time.Millisecond), dec.Decision.Reason)

	// Every signal clears (the sequential test does not take the reverted
	// bad release as its baseline) and stays clear for the verify window.
	recovery := waitRecovery(t, rec, act.Incident, push)
	require.Equal(t, act.Incident, recovery.Incident)

	rows, err := store.List(s.ctx, time.Time{})
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
	updatePayment(ctx, t, cs, func(dep *appsv1.Deployment) { setPaymentImage(dep, image) })
}

// updatePayment applies change to the payment Deployment, retrying on
// conflicts.
func updatePayment(ctx context.Context, t *testing.T, cs kubernetes.Interface, change func(*appsv1.Deployment)) {
	t.Helper()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := cs.AppsV1().Deployments(stack.Namespace).Get(ctx, stack.Deployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		change(dep)
		_, err = cs.AppsV1().Deployments(stack.Namespace).Update(ctx, dep, metav1.UpdateOptions{})
		return err
	}))
}

// setPaymentImage sets the image of dep's payment container.
func setPaymentImage(dep *appsv1.Deployment, image string) {
	for i := range dep.Spec.Template.Spec.Containers {
		if dep.Spec.Template.Spec.Containers[i].Name == "payment" {
			dep.Spec.Template.Spec.Containers[i].Image = image
		}
	}
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
