package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

const (
	errorRatioExpr = `sum(rate(http_requests_total{code=~"5.."}[15s])) / sum(rate(http_requests_total[15s]))`
	rateExpr       = DefaultRequestRateExpr
)

// fakeProm is an httptest Prometheus answering /api/v1/query from a table
// of expression → value; an expression missing from the table answers an
// empty vector (no data), except a freshness query (timestamp()), which
// answers the time of the newest raw sample: age+sampleAge ago, or no data
// when noSamples is set.
type fakeProm struct {
	mu        sync.Mutex
	values    map[string]float64
	age       time.Duration // how old the returned samples are
	sampleAge time.Duration // how much older the newest raw sample is
	noSamples bool          // freshness queries answer no data
	queries   []string
	srv       *httptest.Server
}

func newFakeProm(t *testing.T, values map[string]float64) *fakeProm {
	t.Helper()
	p := &fakeProm{values: values}
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		if err := r.ParseForm(); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		p.mu.Lock()
		q := r.Form.Get("query")
		p.queries = append(p.queries, q)
		v, ok := p.values[q]
		age := p.age
		if !ok && strings.Contains(q, "timestamp(") && !p.noSamples {
			v, ok = float64(time.Now().Add(-age-p.sampleAge).UnixMilli())/1000, true
		}
		p.mu.Unlock()
		result := []any{}
		if ok {
			ts := float64(time.Now().Add(-age).UnixMilli()) / 1000
			result = append(result, map[string]any{"metric": map[string]string{}, "value": []any{ts, fmt.Sprint(v)}})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": "success", "data": map[string]any{"resultType": "vector", "result": result}})
	}))
	t.Cleanup(p.srv.Close)
	return p
}

func (p *fakeProm) set(expr string, v float64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.values[expr] = v
}

func (p *fakeProm) api(t *testing.T) v1.API {
	t.Helper()
	c, err := promapi.NewClient(promapi.Config{Address: p.srv.URL})
	require.NoError(t, err)
	return v1.NewAPI(c)
}

// events records a guard's events.
type events struct {
	mu  sync.Mutex
	all []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.all = append(e.all, ev)
}

func (e *events) of(kind EventKind) []Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Event
	for _, ev := range e.all {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

func (e *events) count() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.all)
}

var guardTarget = drills.Target{Kind: drills.TargetDeployment, Namespace: testNS, Name: testDep, Service: testDep}

func rulePolicy() drills.Guard {
	return drills.Guard{
		Interval:     drills.D(20 * time.Millisecond),
		VerifyWindow: drills.D(time.Hour),
		Rules: []drills.Rule{{
			Name: "HighErrorRate", Expr: errorRatioExpr, Op: drills.OpGT, Threshold: 0.05,
			For: drills.D(0), Severity: drills.SeverityCritical,
		}},
		Strategies: []drills.Strategy{{Name: drills.StrategyRevert}, {Name: drills.StrategyHuman}},
	}
}

// runGuard runs g until the test ends and waits for Run to return.
func runGuard(t *testing.T, g *Guard) context.CancelFunc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	stop := func() {
		cancel()
		select {
		case err := <-done:
			require.NoError(t, err)
		case <-time.After(10 * time.Second):
			t.Error("guard did not stop within 10s of cancel")
		}
	}
	t.Cleanup(stop)
	return cancel
}

func patches(c *fake.Clientset) int {
	n := 0
	for _, a := range c.Actions() {
		if a.GetVerb() == "patch" || a.GetVerb() == "update" && a.GetResource().Resource == "deployments" {
			n++
		}
	}
	return n
}

func TestGuardRuleFiringRevertsAndAudits(t *testing.T) {
	ctx := context.Background()
	client := fake.NewClientset(history()...)
	prom := newFakeProm(t, map[string]float64{errorRatioExpr: 0.5, rateExpr: 50})
	store, err := OpenSQLiteAudit(ctx, filepath.Join(t.TempDir(), "audit.db"))
	require.NoError(t, err)
	t.Cleanup(func() { _ = store.Close() })
	reg := prometheus.NewRegistry()
	metrics, err := NewMetrics(reg)
	require.NoError(t, err)
	var ev events

	g, err := NewGuard(rulePolicy(), guardTarget, WithKubernetes(client), WithPrometheus(prom.api(t)),
		WithAudit(store), WithMetrics(metrics), OnEvent(ev.add))
	require.NoError(t, err)
	runGuard(t, g)

	require.Eventually(t, func() bool { return len(ev.of(EventAction)) > 0 }, 10*time.Second, 10*time.Millisecond)
	det := ev.of(EventDetection)
	require.Len(t, det, 1)
	require.Equal(t, "HighErrorRate", det[0].Evidence[0].Source)
	dec := ev.of(EventDecision)
	require.Len(t, dec, 1)
	require.Equal(t, ActionRollback, dec[0].Decision.Action)
	require.Equal(t, drills.StrategyRevert, dec[0].Strategy)
	act := ev.of(EventAction)[0]
	require.NoError(t, act.Err)
	require.Equal(t, "v3", act.FromVersion)
	require.Equal(t, "v2", act.ToVersion)
	require.False(t, act.Time.Before(dec[0].Time))

	dep := getDeployment(t, client)
	require.Equal(t, "v2", dep.Spec.Template.Spec.Containers[0].Image)

	rows, err := store.List(ctx, time.Time{})
	require.NoError(t, err)
	require.Len(t, rows, 1)
	require.Equal(t, "v3", rows[0].FromVersion)
	require.Equal(t, "v2", rows[0].ToVersion)
	require.Equal(t, "revert", rows[0].Strategy)
	require.Equal(t, string(ActionRollback), rows[0].Decision)
	require.True(t, rows[0].Success)
	require.NotNil(t, rows[0].EndTime)
	require.Equal(t, testNS+"/"+testDep, rows[0].ServiceName)

	require.Equal(t, 1.0, testutil.ToFloat64(metrics.Rollbacks.WithLabelValues("revert", OutcomeSuccess)))
	require.Equal(t, 1, testutil.CollectAndCount(metrics.Detection))
}

// runShortVerifyGuard runs a guard with rulePolicy and a 100 ms verify
// window on the fake deployment history, its error ratio reading ratio;
// it returns the client, the Prometheus, the events and the guard.
func runShortVerifyGuard(t *testing.T, ratio float64) (*fake.Clientset, *fakeProm, *events, *Guard) {
	t.Helper()
	client := fake.NewClientset(history()...)
	prom := newFakeProm(t, map[string]float64{errorRatioExpr: ratio, rateExpr: 50})
	p := rulePolicy()
	p.VerifyWindow = drills.D(100 * time.Millisecond)
	ev := &events{}
	g, err := NewGuard(p, guardTarget, WithKubernetes(client), WithPrometheus(prom.api(t)), OnEvent(ev.add))
	require.NoError(t, err)
	runGuard(t, g)
	return client, prom, ev, g
}

func TestGuardRecoversAfterVerifyWindow(t *testing.T) {
	_, prom, ev, _ := runShortVerifyGuard(t, 0.5)
	require.Eventually(t, func() bool { return len(ev.of(EventAction)) == 1 }, 10*time.Second, 10*time.Millisecond)
	prom.set(errorRatioExpr, 0.001)
	require.Eventually(t, func() bool { return len(ev.of(EventRecovery)) == 1 }, 10*time.Second, 10*time.Millisecond)
	rec := ev.of(EventRecovery)[0]
	require.Equal(t, ev.of(EventAction)[0].Incident, rec.Incident)
	require.Equal(t, drills.StrategyRevert, rec.Strategy)
	require.Len(t, ev.of(EventAction), 1)
}

// TestGuardHandsFlappingSignalToHuman: a rule just past its threshold is
// deferred while young (Premature); it clears by itself for the verify
// window, then comes back under the same revision. The second time it is
// judged at once, with the flap in RecoveryPotential: below partialAt, so
// the incident goes to the human and nothing is rolled back.
func TestGuardHandsFlappingSignalToHuman(t *testing.T) {
	client, prom, ev, g := runShortVerifyGuard(t, 0.07)

	require.Eventually(t, func() bool { return len(ev.of(EventDetection)) == 1 }, 10*time.Second, 10*time.Millisecond)
	n := g.Evaluations()
	require.Eventually(t, func() bool { return g.Evaluations() >= n+10 }, 10*time.Second, 10*time.Millisecond)
	require.Empty(t, ev.of(EventDecision), "a young rule at E 0.7 is judged later")
	prom.set(errorRatioExpr, 0.001)
	require.Eventually(t, func() bool { return len(ev.of(EventRecovery)) == 1 }, 10*time.Second, 10*time.Millisecond)
	require.Empty(t, ev.of(EventAction), "it cleared by itself")

	prom.set(errorRatioExpr, 0.07)
	require.Eventually(t, func() bool { return len(ev.of(EventAction)) == 1 }, 10*time.Second, 10*time.Millisecond)
	act := ev.of(EventAction)[0]
	require.Equal(t, drills.StrategyHuman, act.Strategy)
	require.Equal(t, ActionRequireHuman, act.Decision.Action, act.Decision.Reason)
	require.Equal(t, 1, act.Decision.Workload.SelfCleared)
	require.Equal(t, 1.5, act.Decision.RecoveryPotential)
	require.Contains(t, act.Decision.Reason, "flapping: 1 earlier anomaly under revision 3 cleared by itself")
	require.Equal(t, "v3", getDeployment(t, client).Spec.Template.Spec.Containers[0].Image, "nothing rolled back")
}

func TestGuardHoldsOnNoData(t *testing.T) {
	client := fake.NewClientset(history()...)
	prom := newFakeProm(t, map[string]float64{}) // every query: no data
	var ev events
	g, err := NewGuard(rulePolicy(), guardTarget, WithKubernetes(client), WithPrometheus(prom.api(t)), OnEvent(ev.add))
	require.NoError(t, err)
	runGuard(t, g)
	require.Eventually(t, func() bool { return g.Evaluations() >= 10 }, 10*time.Second, 10*time.Millisecond)
	require.Zero(t, ev.count())
	require.Zero(t, patches(client))
	require.Equal(t, "v3", getDeployment(t, client).Spec.Template.Spec.Containers[0].Image)
}

func TestRuleSignalHoldReasons(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		values map[string]float64
		age    time.Duration
		want   string
	}{
		{name: "no data", values: map[string]float64{}, want: "no data"},
		{name: "stale", values: map[string]float64{errorRatioExpr: 0.5, rateExpr: 50}, age: time.Minute, want: "stale data"},
		{name: "low traffic", values: map[string]float64{errorRatioExpr: 0.5, rateExpr: 0.2}, want: "low traffic"},
		{name: "no request rate", values: map[string]float64{errorRatioExpr: 0.5}, want: "low traffic"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prom := newFakeProm(t, tc.values)
			prom.age = tc.age
			s := NewRuleSignal(prom.api(t), rulePolicy(), "")
			obs := s.Observe(ctx, time.Now())
			require.Empty(t, obs.Evidence)
			require.Len(t, obs.Hold, 1)
			require.Contains(t, obs.Hold[0], tc.want)
		})
	}
	t.Run("query error", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			http.Error(w, `{"status":"error","errorType":"internal","error":"boom"}`, http.StatusInternalServerError)
		}))
		t.Cleanup(srv.Close)
		c, err := promapi.NewClient(promapi.Config{Address: srv.URL})
		require.NoError(t, err)
		obs := NewRuleSignal(v1.NewAPI(c), rulePolicy(), "").Observe(ctx, time.Now())
		require.Empty(t, obs.Evidence)
		require.Len(t, obs.Hold, 1)
		require.Contains(t, obs.Hold[0], "query failed")
	})
	t.Run("scrape stopped", func(t *testing.T) {
		// Prometheus answers at its current time, but the newest raw
		// sample behind the rule is a minute old.
		prom := newFakeProm(t, map[string]float64{errorRatioExpr: 0.5, rateExpr: 50})
		prom.sampleAge = time.Minute
		obs := NewRuleSignal(prom.api(t), rulePolicy(), "").Observe(ctx, time.Now())
		require.Empty(t, obs.Evidence)
		require.Len(t, obs.Hold, 1)
		// About a minute old (the fake stamps it a moment after now).
		require.Regexp(t, `stale data: newest sample is (59\.9\d*s|1m0s|1m0\.\d+s) old \(staleAfter 10s\)`, obs.Hold[0])
	})
	t.Run("no series behind the value", func(t *testing.T) {
		prom := newFakeProm(t, map[string]float64{errorRatioExpr: 0.5, rateExpr: 50})
		prom.noSamples = true
		obs := NewRuleSignal(prom.api(t), rulePolicy(), "").Observe(ctx, time.Now())
		require.Empty(t, obs.Evidence)
		require.Len(t, obs.Hold, 1)
		require.Contains(t, obs.Hold[0], "no data")
	})
	t.Run("firing", func(t *testing.T) {
		prom := newFakeProm(t, map[string]float64{errorRatioExpr: 0.5, rateExpr: 50})
		obs := NewRuleSignal(prom.api(t), rulePolicy(), "").Observe(ctx, time.Now())
		require.Empty(t, obs.Hold)
		require.Len(t, obs.Evidence, 1)
		require.Equal(t, 0.5, obs.Evidence[0].Value)
	})
}

func TestFreshnessExpr(t *testing.T) {
	for _, tc := range []struct{ expr, want string }{
		{`sum(rate(http_requests_total{code=~"5.."}[15s]))`, `max(timestamp(http_requests_total{code=~"5.."}))`},
		{`up offset 5m > 0`, `max(timestamp(up))`},
		{`a / a`, `max(timestamp(a))`},
		{`sum(rate(e[1m])) / sum(rate(t[1m]))`,
			`max(label_replace(timestamp(e), "firedrill_selector", "0", "", "") or label_replace(timestamp(t), "firedrill_selector", "1", "", ""))`},
		{`absent(up{job="payment"})`, ``},
		{`vector(1)`, ``},
		{`not promql (`, ``},
	} {
		require.Equal(t, tc.want, FreshnessExpr(tc.expr), tc.expr)
	}
}

// TestRuleSignalDatesBySamples checks that a rule's reading is dated by its
// newest raw sample, through the freshness query, and that a ratio is
// recognised from the parsed expression, not from a "/" in a matcher.
func TestRuleSignalDatesBySamples(t *testing.T) {
	const pathExpr = `sum(rate(http_requests_total{path=~"/api/.*"}[15s]))`
	prom := newFakeProm(t, map[string]float64{pathExpr: 9}) // no request rate: a ratio would hold
	prom.sampleAge = 2 * time.Second
	g := rulePolicy()
	g.Rules[0].Expr, g.Rules[0].Threshold = pathExpr, 1
	obs := NewRuleSignal(prom.api(t), g, "").Observe(context.Background(), time.Now())
	require.Empty(t, obs.Hold, "a path matcher is not a ratio; 2s-old samples are fresh")
	require.Len(t, obs.Evidence, 1)
	prom.mu.Lock()
	defer prom.mu.Unlock()
	require.Equal(t, []string{pathExpr, `max(timestamp(http_requests_total{path=~"/api/.*"}))`}, prom.queries)
}

func waitingPod(name, hash, reason string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS,
			Labels: map[string]string{"app": testDep, "pod-template-hash": hash}},
		Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", RestartCount: 3,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}},
		}}},
	}
}

func kubePolicy() drills.Guard {
	return drills.Guard{
		Interval:     drills.D(20 * time.Millisecond),
		VerifyWindow: drills.D(time.Hour),
		Kubernetes:   &drills.KubernetesSignals{CrashLoop: true, ImagePull: true, For: drills.D(0)},
		Strategies:   []drills.Strategy{{Name: drills.StrategyRevert}},
	}
}

func TestGuardCrashLoopOnNewReplicaSetDecidesRollback(t *testing.T) {
	objs := append(history(), waitingPod("payment-hv3-a", "hv3", "CrashLoopBackOff"))
	client := fake.NewClientset(objs...)
	var ev events
	g, err := NewGuard(kubePolicy(), guardTarget, WithKubernetes(client), OnEvent(ev.add))
	require.NoError(t, err)
	runGuard(t, g)
	require.Eventually(t, func() bool { return len(ev.of(EventAction)) > 0 }, 10*time.Second, 10*time.Millisecond)
	dec := ev.of(EventDecision)[0]
	require.Equal(t, ActionRollback, dec.Decision.Action)
	require.Equal(t, SignalCrashLoop, dec.Decision.Strongest)
	require.Equal(t, "v3", dec.FromVersion)
	require.Equal(t, "v2", dec.ToVersion)
	require.Equal(t, "v2", getDeployment(t, client).Spec.Template.Spec.Containers[0].Image)
}

func TestKubeSignalIgnoresOldReplicaSetAndWaitsFor(t *testing.T) {
	ctx := context.Background()
	objs := append(history(), waitingPod("payment-hv2-a", "hv2", "CrashLoopBackOff"), waitingPod("payment-hv3-a", "hv3", "ErrImagePull"))
	w := NewWatch(fake.NewClientset(objs...), testNS, testDep)
	wctx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() { cancel(); w.Shutdown() })
	require.NoError(t, w.Start(wctx))

	s := NewKubeSignal(w, drills.KubernetesSignals{CrashLoop: true, ImagePull: true, For: drills.D(5 * time.Second)})
	now := time.Now()
	require.Empty(t, s.Observe(ctx, now).Evidence, "a signal must persist for its window")
	obs := s.Observe(ctx, now.Add(5*time.Second))
	require.Len(t, obs.Evidence, 1, "only the new replica set's pods count")
	require.Equal(t, SignalImagePull, obs.Evidence[0].Source)
	require.Equal(t, drills.SeverityCritical, obs.Evidence[0].Severity)
	require.Equal(t, now, obs.Evidence[0].Since)
}

func TestKubeSignalReadyRatioAndStalledRollout(t *testing.T) {
	ctx := context.Background()
	dep := testDeployment("v3", 3)
	dep.Status.ReadyReplicas = 1 // of 4
	dep.Status.Conditions = append(dep.Status.Conditions, appsv1DeploymentProgressDeadlineExceeded())
	objs := []runtime.Object{dep, testReplicaSet("v2", 2, 0), testReplicaSet("v3", 3, 4)}
	w := NewWatch(fake.NewClientset(objs...), testNS, testDep)
	wctx, cancel := context.WithCancel(ctx)
	t.Cleanup(func() { cancel(); w.Shutdown() })
	require.NoError(t, w.Start(wctx))
	ratio := 0.5
	s := NewKubeSignal(w, drills.KubernetesSignals{RolloutStalled: true, MinReadyRatio: &ratio, For: drills.D(0)})
	obs := s.Observe(ctx, time.Now())
	var sources []string
	for _, e := range obs.Evidence {
		sources = append(sources, e.Source)
	}
	require.ElementsMatch(t, []string{SignalRolloutStalled, SignalLowReady}, sources)
}

func TestGuardLeaderElectionOnlyOneActs(t *testing.T) {
	client := fake.NewClientset(history()...)
	prom := newFakeProm(t, map[string]float64{errorRatioExpr: 0.5, rateExpr: 50})
	le := LeaderElection{Namespace: testNS, Name: "firedrill-guard", LeaseDuration: 10 * time.Second, RenewDeadline: 5 * time.Second, RetryPeriod: 50 * time.Millisecond}
	var evA, evB events
	leA, leB := le, le
	leA.Identity, leB.Identity = "a", "b"
	ga, err := NewGuard(rulePolicy(), guardTarget, WithKubernetes(client), WithPrometheus(prom.api(t)), WithLeaderElection(leA), OnEvent(evA.add))
	require.NoError(t, err)
	gb, err := NewGuard(rulePolicy(), guardTarget, WithKubernetes(client), WithPrometheus(prom.api(t)), WithLeaderElection(leB), OnEvent(evB.add))
	require.NoError(t, err)
	stopA := runGuard(t, ga)
	stopB := runGuard(t, gb)

	actions := func() int { return len(evA.of(EventAction)) + len(evB.of(EventAction)) }
	require.Eventually(t, func() bool { return actions() == 1 }, 10*time.Second, 10*time.Millisecond)
	leader, follower, stopLeader := ga, gb, stopA
	if len(evB.of(EventAction)) == 1 {
		leader, follower, stopLeader = gb, ga, stopB
	}
	// The leader keeps evaluating; the follower never does, so never acts.
	n := leader.Evaluations()
	require.Eventually(t, func() bool { return leader.Evaluations() >= n+20 }, 10*time.Second, 10*time.Millisecond)
	require.Equal(t, 1, actions())
	require.Zero(t, follower.Evaluations())

	// Graceful shutdown releases the Lease: the follower takes over well
	// before the 10s lease would expire.
	stopLeader()
	require.Eventually(t, func() bool { return follower.Evaluations() > 0 }, 5*time.Second, 10*time.Millisecond)
	// Its revert finds the previous one done and changes nothing.
	require.Eventually(t, func() bool { return actions() == 2 }, 10*time.Second, 10*time.Millisecond)
	var second Event
	if leader == ga {
		second = evB.of(EventAction)[0]
	} else {
		second = evA.of(EventAction)[0]
	}
	require.NoError(t, second.Err)
	require.True(t, second.Outcome.AlreadyDone)
}

func TestNewGuardErrors(t *testing.T) {
	_, err := NewGuard(rulePolicy(), guardTarget, WithKubernetes(fake.NewClientset()))
	require.ErrorContains(t, err, "need Prometheus")
	_, err = NewGuard(kubePolicy(), guardTarget)
	require.ErrorContains(t, err, "Kubernetes client")
	_, err = NewGuard(drills.Guard{}, guardTarget, WithKubernetes(fake.NewClientset()))
	require.ErrorContains(t, err, "no signal")
	rollout := guardTarget
	rollout.Kind = drills.TargetRollout
	_, err = NewGuard(kubePolicy(), rollout, WithKubernetes(fake.NewClientset()))
	require.ErrorContains(t, err, "need a dynamic Kubernetes client")
	shrinks := rulePolicy()
	shrinks.Strategies = append(shrinks.Strategies, drills.Strategy{Name: drills.StrategyShrink})
	_, err = NewGuard(shrinks, rollout, WithKubernetes(fake.NewClientset()), WithPrometheus(newFakeProm(t, nil).api(t)))
	require.ErrorContains(t, err, "strategy shrink does not act on a Rollout yet")
	g, err := NewGuard(rulePolicy(), rollout, WithKubernetes(fake.NewClientset()), WithPrometheus(newFakeProm(t, nil).api(t)), WithDynamic(dynfake.NewSimpleDynamicClient(runtime.NewScheme())))
	require.NoError(t, err, "revert and human act on a Rollout")
	require.NotNil(t, g.watch, "the Rollout is watched through the dynamic client")
	require.Equal(t, drills.TargetRollout, g.watch.kind)
	require.NotNil(t, g.strategies[0].(*Revert).dyn)
	require.NotNil(t, g.strategies[1].(*Human).dyn)
	other := guardTarget
	other.Kind = "StatefulSet"
	_, err = NewGuard(rulePolicy(), other, WithKubernetes(fake.NewClientset()), WithPrometheus(newFakeProm(t, nil).api(t)))
	require.ErrorContains(t, err, "not supported")
	_, err = NewGuard(kubePolicy(), guardTarget, WithKubernetes(fake.NewClientset()), WithLeaderElection(LeaderElection{Name: "x"}))
	require.ErrorContains(t, err, "leader election")
}

func appsv1DeploymentProgressDeadlineExceeded() appsv1.DeploymentCondition {
	return appsv1.DeploymentCondition{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: "ProgressDeadlineExceeded"}
}

func TestRecentFreshnessExpr(t *testing.T) {
	fresh := FreshnessExpr(`sum(rate(http_requests_total{code=~"5.."}[15s]))`)
	got := RecentFreshnessExpr(fresh, 10*time.Second)
	require.Equal(t, `max_over_time((max(timestamp(http_requests_total{code=~"5.."})))[10s:1s])`, got)
	_, err := promParser.ParseExpr(got)
	require.NoError(t, err, "valid PromQL")
	_, err = promParser.ParseExpr(RecentFreshnessExpr(FreshnessExpr(`sum(rate(e[1m])) / sum(rate(t[1m]))`), time.Minute))
	require.NoError(t, err, "valid PromQL for several selectors")
}

// TestRuleSignalDatesEndedSeries: when every series behind a rule ended
// with a staleness marker (all of the target's pods replaced at once, the
// new ones not discovered yet), the instant freshness query is empty; the
// rule is dated by the series' last samples within staleAfter, and holds
// with no data only when there are none.
func TestRuleSignalDatesEndedSeries(t *testing.T) {
	const pathExpr = `sum(rate(http_requests_total{path=~"/api/.*"}[15s]))`
	g := rulePolicy()
	g.Rules[0].Expr, g.Rules[0].Threshold = pathExpr, 1
	recent := RecentFreshnessExpr(FreshnessExpr(pathExpr), drills.DefaultStaleAfter)

	prom := newFakeProm(t, map[string]float64{pathExpr: 9, recent: float64(time.Now().Add(-2*time.Second).UnixMilli()) / 1000})
	prom.noSamples = true // no instant sample: every series is stale-marked
	obs := NewRuleSignal(prom.api(t), g, "").Observe(context.Background(), time.Now())
	require.Empty(t, obs.Hold, "samples 2s old, before the series ended, are fresh")
	require.Len(t, obs.Evidence, 1)
	prom.mu.Lock()
	require.Equal(t, []string{pathExpr, FreshnessExpr(pathExpr), recent}, prom.queries)
	prom.mu.Unlock()

	none := newFakeProm(t, map[string]float64{pathExpr: 9})
	none.noSamples = true
	obs = NewRuleSignal(none.api(t), g, "").Observe(context.Background(), time.Now())
	require.Len(t, obs.Hold, 1)
	require.Contains(t, obs.Hold[0], "no data")
}

// TestWorkloadTrackerSelfCleared: self-cleared anomalies count for their
// revision only, and only for FlapWindow.
func TestWorkloadTrackerSelfCleared(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	v3, v4 := &Snapshot{Revision: 3}, &Snapshot{Revision: 4}
	var w workloadTracker
	require.Zero(t, w.observe(t0, v3).SelfCleared)
	w.selfCleared(t0, v3)
	w.selfCleared(t0.Add(time.Minute), v3)
	require.Equal(t, 2, w.observe(t0.Add(2*time.Minute), v3).SelfCleared)
	require.Zero(t, w.observe(t0.Add(2*time.Minute), v4).SelfCleared, "another revision")
	require.Equal(t, 1, w.observe(t0.Add(FlapWindow+30*time.Second), v3).SelfCleared, "the first is past FlapWindow")
	w.selfCleared(t0.Add(12*time.Minute), v4)
	require.Equal(t, 1, w.observe(t0.Add(12*time.Minute), v4).SelfCleared)
	require.Zero(t, w.observe(t0.Add(12*time.Minute), v3).SelfCleared, "a new revision starts the record again")
}
