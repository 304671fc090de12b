package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
)

// The seed's three outcomes on the real stack, each from the drill in
// drills/examples that shows it, plus two bad pushes in a row.

// keepShape puts the payment Deployment's replicas and rollout strategy
// back when the test ends (a shrink scales it down; pushAtOnce changes its
// surge). Registered after newScenario, it runs before newScenario's own
// cleanup, which then waits for payment:v1 at full size.
func (s *scenario) keepShape() {
	s.t.Helper()
	dep, err := s.cs.AppsV1().Deployments(stack.Namespace).Get(s.ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(s.t, err)
	replicas, strategy := *dep.Spec.Replicas, *dep.Spec.Strategy.DeepCopy()
	s.t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		updatePayment(cctx, s.t, s.cs, func(dep *appsv1.Deployment) {
			dep.Spec.Replicas, dep.Spec.Strategy = &replicas, strategy
			delete(dep.Annotations, engine.AnnotationShrink)
		})
	})
}

// pushAtOnce sets the payment image with maxSurge 100%: every pod takes the
// release at once, so the error ratio a rule reads reaches the release's
// within one rate window instead of climbing for as long as a pod-by-pod
// rollout lasts.
func (s *scenario) pushAtOnce(image string) {
	s.t.Helper()
	all := intstr.FromString("100%")
	none := intstr.FromInt32(0)
	updatePayment(s.ctx, s.t, s.cs, func(dep *appsv1.Deployment) {
		dep.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &all, MaxUnavailable: &none}}
		setPaymentImage(dep, image)
	})
}

// guard starts the scenario drill's guard (policy, possibly adjusted) with
// a fresh audit file; it returns the guard, its events and its audit.
func (s *scenario) guard(name string, policy drills.Guard) (*engine.Guard, *recorder, *engine.SQLiteAudit) {
	s.t.Helper()
	store := s.audit()
	rec := &recorder{t: s.t}
	g, err := engine.NewGuard(policy, s.drill.Spec.Target, engine.WithKubernetes(s.cs), engine.WithPrometheus(s.prom),
		engine.WithAudit(store), s.logger(name), rec.on(name))
	require.NoError(s.t, err)
	s.run(g)
	require.Eventually(s.t, func() bool { return g.Evaluations() >= 5 }, time.Minute, 100*time.Millisecond)
	require.Empty(s.t, rec.of(engine.EventDetection), "no anomaly on payment:v1")
	return g, rec, store
}

// TestGuardPartialThenFullRollback pushes payment:v2-flaky (3 % errors)
// under the partial-rollback drill: against its 1 % warning rule the score
// is in the partial band, so the engine first shrinks the faulty revision
// by half; the errors persist, the score rises past rollbackAt and the
// engine escalates to the full revert.
func TestGuardPartialThenFullRollback(t *testing.T) {
	s := newScenarioOf(t, 5*time.Minute, "partial-rollback.yaml")
	s.keepShape()
	dep, err := s.cs.AppsV1().Deployments(stack.Namespace).Get(s.ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	replicas := *dep.Spec.Replicas
	require.GreaterOrEqual(t, replicas, int32(2), "a Deployment that half of can be shrunk")

	_, rec, store := s.guard("partial", *s.drill.Spec.Guard)
	push := time.Now()
	s.pushAtOnce("payment:v2-flaky")

	revert := func() (recorded, bool) {
		for _, a := range rec.of(engine.EventAction) {
			if a.Strategy == drills.StrategyRevert {
				return a, true
			}
		}
		return recorded{}, false
	}
	require.Eventually(t, func() bool { _, ok := revert(); return ok }, 3*time.Minute, 100*time.Millisecond, "never escalated to the revert")
	acts := rec.of(engine.EventAction)
	require.GreaterOrEqual(t, len(acts), 2, "a partial action, then the full one")

	partial := acts[0]
	require.NoError(t, partial.Err)
	require.Equal(t, drills.StrategyShrink, partial.Strategy, "the first action is the partial one")
	require.NotNil(t, partial.Decision)
	require.Equal(t, engine.ActionPartialRollback, partial.Decision.Action, partial.Decision.Reason)
	require.Equal(t, 50, partial.Decision.Percent)
	require.GreaterOrEqual(t, partial.Decision.Score, 0.7-1e-9, partial.Decision.Reason)
	require.Less(t, partial.Decision.Score, 0.9, partial.Decision.Reason)
	goal := replicas - (replicas*50+99)/100
	require.Equal(t, strconv.Itoa(int(goal))+" replicas", partial.Outcome.ToVersion, partial.Outcome.Message)

	full, _ := revert()
	require.NoError(t, full.Err)
	require.Equal(t, engine.ActionRollback, full.Decision.Action, full.Decision.Reason)
	require.GreaterOrEqual(t, full.Decision.Score, 0.9-1e-9, full.Decision.Reason)
	require.Equal(t, partial.Incident, full.Incident, "one incident, escalated")
	require.True(t, full.Time.After(partial.Time))
	img, _, _ := s.deployment()
	require.Equal(t, "payment:v1", img)
	t.Logf("payment:v2-flaky: partial (shrink to %d of %d) at push + %s: %s; full revert at push + %s: %s",
		goal, replicas, partial.Time.Sub(push).Round(time.Millisecond), partial.Decision.Reason,
		full.Time.Sub(push).Round(time.Millisecond), full.Decision.Reason)

	waitRecovery(t, rec, full.Incident, push)
	rows, err := store.List(s.ctx, time.Time{})
	require.NoError(t, err)
	var strategies []string
	for _, r := range rows {
		require.True(t, r.Success, "%s: %s", r.Strategy, r.Reason)
		strategies = append(strategies, r.Strategy)
	}
	require.ElementsMatch(t, []string{"shrink", "revert"}, strategies)
}

// TestGuardHandsOverBelowPartial pushes payment:v2-flaky under the
// human-review drill, whose thresholds put the 3 % release below
// partialAt: the engine pauses the Deployment where it stands, calls the
// webhook once with its decision and rolls nothing back.
func TestGuardHandsOverBelowPartial(t *testing.T) {
	s := newScenarioOf(t, 4*time.Minute, "human-review.yaml")
	s.keepShape()
	policy, calls := s.humanHook()

	g, rec, _ := s.guard("human", policy)
	push := time.Now()
	s.pushAtOnce("payment:v2-flaky")

	require.Eventually(t, func() bool { return len(rec.of(engine.EventAction)) > 0 }, 2*time.Minute, 100*time.Millisecond)
	act := rec.of(engine.EventAction)[0]
	require.NoError(t, act.Err)
	require.Equal(t, drills.StrategyHuman, act.Strategy)
	require.Equal(t, engine.ActionRequireHuman, act.Decision.Action, act.Decision.Reason)
	require.Less(t, act.Decision.Score, 0.95, act.Decision.Reason)
	t.Logf("payment:v2-flaky: handed over at push + %s: %s", act.Time.Sub(push).Round(time.Millisecond), act.Decision.Reason)

	s.requireHandedOver(g, rec, act, calls, "payment:v2-flaky")
}

// humanHook returns the scenario drill's guard policy with its human
// strategy's webhook pointed at a test server, and a function that
// returns the calls the server received so far.
func (s *scenario) humanHook() (drills.Guard, func() []map[string]any) {
	s.t.Helper()
	var (
		mu    sync.Mutex
		calls []map[string]any
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var m map[string]any
		if err := json.Unmarshal(body, &m); err != nil {
			m = map[string]any{"unparsed": string(body)}
		}
		m["idempotencyKey"] = r.Header.Get("Idempotency-Key")
		mu.Lock()
		calls = append(calls, m)
		mu.Unlock()
	}))
	s.t.Cleanup(hook.Close)
	policy := *s.drill.Spec.Guard
	policy.Strategies = append([]drills.Strategy(nil), policy.Strategies...)
	found := false
	for i, st := range policy.Strategies {
		if st.Name == drills.StrategyHuman {
			h := drills.HumanSettings{}
			if st.Human != nil {
				h = *st.Human
			}
			h.WebhookURL = hook.URL
			policy.Strategies[i].Human = &h
			found = true
		}
	}
	require.True(s.t, found, "the drill %s lists the human strategy", s.drill.Metadata.Name)
	return policy, func() []map[string]any {
		mu.Lock()
		defer mu.Unlock()
		return append([]map[string]any(nil), calls...)
	}
}

// requireHandedOver checks the hand-over act on the real stack: the
// webhook was called once with the incident, the Deployment is paused on
// image with the human annotation, and a few more evaluations bring no
// further action or webhook call while the release stays.
func (s *scenario) requireHandedOver(g *engine.Guard, rec *recorder, act recorded, calls func() []map[string]any, image string) {
	t := s.t
	t.Helper()
	got := calls()
	require.Len(t, got, 1, "the webhook is called once")
	require.Equal(t, act.Incident, got[0]["incident"])
	require.Equal(t, string(engine.ActionRequireHuman), got[0]["action"])
	require.Equal(t, true, got[0]["paused"])
	require.Contains(t, got[0]["idempotencyKey"], act.Incident)

	dep, err := s.cs.AppsV1().Deployments(stack.Namespace).Get(s.ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	require.True(t, dep.Spec.Paused, "the Deployment is paused where it stands")
	require.Equal(t, image, dep.Spec.Template.Spec.Containers[0].Image, "nothing rolled back")
	require.Contains(t, dep.Annotations[engine.AnnotationHuman], act.Incident)

	n := g.Evaluations()
	require.Eventually(t, func() bool { return g.Evaluations() >= n+10 }, time.Minute, 100*time.Millisecond)
	require.Len(t, rec.of(engine.EventAction), 1, "one hand-over, nothing after it")
	require.Len(t, calls(), 1, "one webhook call")
}

// TestGuardHandsFlappingReleaseToHuman rolls payment:v2-flapping (1.5 %
// errors for the first 20 s of every 40 s on the wall clock) out fully,
// then starts the flapping-release drill's guard, with the default
// thresholds, in an off phase whose errors have left the rule's window.
// The first episode is deferred while young and clears by itself for
// longer than the verify window; when the signal comes back under the
// same revision the flap raises RecoveryPotential and the score falls
// below partialAt: the Deployment is paused and the human webhook called,
// nothing rolled back. (The guard starts after the rollout because while
// pods are replaced the ratio a rate rule reads can overshoot: new series
// and old pods going away. A guard that sees that acts on it as on any
// bad push; this test is about the flapping.)
func TestGuardHandsFlappingReleaseToHuman(t *testing.T) {
	s := newScenarioOf(t, 6*time.Minute, "flapping-release.yaml")
	s.keepShape()
	policy, calls := s.humanHook()
	require.Equal(t, drills.DefaultRollbackAt, *policy.Decision.RollbackAt, "the drill keeps the default thresholds")
	require.Equal(t, drills.DefaultPartialAt, *policy.Decision.PartialAt, "the drill keeps the default thresholds")
	period := flapPeriod(t, "payment:v2-flapping")

	s.pushAtOnce("payment:v2-flapping")
	require.Eventually(t, func() bool {
		dep, err := s.cs.AppsV1().Deployments(stack.Namespace).Get(s.ctx, stack.Deployment, metav1.GetOptions{})
		if err != nil || dep.Status.ObservedGeneration < dep.Generation {
			return false
		}
		n := *dep.Spec.Replicas
		return dep.Status.UpdatedReplicas == n && dep.Status.Replicas == n && dep.Status.AvailableReplicas == n
	}, 2*time.Minute, 200*time.Millisecond, "payment:v2-flapping rolled out")
	// The off half is [period/2, period): the errors have left a 15 s
	// window from period/2+15s on; start there, with time for the guard's
	// first clean evaluations before the next on half.
	require.Eventually(t, func() bool {
		in := time.Duration(time.Now().UnixNano() % int64(period))
		return in >= period/2+16*time.Second && in < period-3*time.Second
	}, 2*period, 50*time.Millisecond, "an off phase with a clean window")
	g, rec, _ := s.guard("flapping", policy)
	start := time.Now()

	require.Eventually(t, func() bool { return len(rec.of(engine.EventAction)) > 0 }, 3*time.Minute, 100*time.Millisecond)
	act := rec.of(engine.EventAction)[0]
	require.NoError(t, act.Err)
	recovered := rec.of(engine.EventRecovery)
	require.NotEmpty(t, recovered, "an episode cleared by itself before the hand-over")
	require.True(t, recovered[0].Time.Before(act.Time))
	require.NotEqual(t, recovered[0].Incident, act.Incident, "the hand-over is on a later episode")
	require.Equal(t, drills.StrategyHuman, act.Strategy)
	require.Equal(t, engine.ActionRequireHuman, act.Decision.Action, act.Decision.Reason)
	require.Less(t, act.Decision.Score, drills.DefaultPartialAt, act.Decision.Reason)
	require.GreaterOrEqual(t, act.Decision.Workload.SelfCleared, 1, act.Decision.Reason)
	require.Contains(t, act.Decision.Reason, "flapping")
	t.Logf("payment:v2-flapping: %d self-cleared episode(s) (the first cleared %s after the guard started), handed over %s after it: %s",
		act.Decision.Workload.SelfCleared, recovered[0].Time.Sub(start).Round(time.Millisecond), act.Time.Sub(start).Round(time.Millisecond), act.Decision.Reason)

	s.requireHandedOver(g, rec, act, calls, "payment:v2-flapping")
}

// flapPeriod is the PAYMENT_FAULT_PERIOD of the stack's image tag ref.
func flapPeriod(t *testing.T, ref string) time.Duration {
	t.Helper()
	for _, tag := range stack.PaymentTags {
		if tag.Ref != ref {
			continue
		}
		for _, kv := range tag.Env {
			if v, ok := strings.CutPrefix(kv, "PAYMENT_FAULT_PERIOD="); ok {
				d, err := time.ParseDuration(v)
				require.NoError(t, err)
				return d
			}
		}
	}
	t.Fatalf("no PAYMENT_FAULT_PERIOD on the stack's %s", ref)
	return 0
}

// TestGuardTwoBadPushesEndOnLastKnownGood marks payment:v1 known good
// (served clean for the guard's goodAfter), pushes payment:v2-slow and, on
// top of it before it has served, payment:v2-buggy: the revert goes back
// to v1, the last known good revision, not to v2-slow, the previous one.
func TestGuardTwoBadPushesEndOnLastKnownGood(t *testing.T) {
	s := newScenario(t, 6*time.Minute)
	policy := *s.drill.Spec.Guard
	policy.GoodAfter = drills.D(15 * time.Second)
	_, rec, store := s.guard("lastgood", policy)

	dep, err := s.cs.AppsV1().Deployments(stack.Namespace).Get(s.ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	_, _, v1, err := deploymentutil.GetAllReplicaSets(dep, s.cs.AppsV1())
	require.NoError(t, err)
	require.NotNil(t, v1)
	v1Rev, err := strconv.ParseInt(v1.Annotations[deploymentutil.RevisionAnnotation], 10, 64)
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		rs, err := s.cs.AppsV1().ReplicaSets(stack.Namespace).Get(s.ctx, v1.Name, metav1.GetOptions{})
		if err != nil {
			return false
		}
		var mark struct {
			ReplicaSet string `json:"replicaSet"`
		}
		return json.Unmarshal([]byte(rs.Annotations[engine.AnnotationKnownGood]), &mark) == nil && mark.ReplicaSet == v1.Name
	}, time.Minute, 250*time.Millisecond, "payment:v1 (%s) is marked known good after goodAfter", v1.Name)

	// Two bad pushes in a row: v2-slow, then v2-buggy as soon as the
	// Deployment has a revision for v2-slow.
	_, rev0, _ := s.deployment()
	setImage(s.ctx, t, s.cs, "payment:v2-slow")
	require.Eventually(t, func() bool { _, rev, _ := s.deployment(); return rev > rev0 }, 30*time.Second, 50*time.Millisecond)
	_, slowRev, _ := s.deployment()
	push := time.Now()
	setImage(s.ctx, t, s.cs, "payment:v2-buggy")

	require.Eventually(t, func() bool { return len(rec.of(engine.EventAction)) > 0 }, 2*time.Minute, 100*time.Millisecond)
	act := rec.of(engine.EventAction)[0]
	require.NoError(t, act.Err)
	require.Equal(t, drills.StrategyRevert, act.Strategy)
	img, _, ann := s.deployment()
	require.Equal(t, "payment:v1", img, "back on the last known good, not on the previous payment:v2-slow")
	var record struct {
		FromRevision int64 `json:"fromRevision"`
		ToRevision   int64 `json:"toRevision"`
	}
	require.NoError(t, json.Unmarshal([]byte(ann[engine.AnnotationRollbackOf]), &record))
	require.Equal(t, v1Rev, record.ToRevision, "the revision of payment:v1")
	require.Greater(t, record.FromRevision, slowRev, "from the revision of payment:v2-buggy")
	require.NotContains(t, ann, engine.AnnotationKnownGood, "the mark stays on its ReplicaSet")
	t.Logf("two bad pushes (v2-slow at revision %d, v2-buggy on top): reverted from revision %d to %d (payment:v1) at push + %s",
		slowRev, record.FromRevision, record.ToRevision, act.Time.Sub(push).Round(time.Millisecond))

	waitRecovery(t, rec, act.Incident, push)
	rows, err := store.List(s.ctx, time.Time{})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "payment:v2-buggy", rows[0].FromVersion)
	require.Equal(t, "payment:v1", rows[0].ToVersion)
}
