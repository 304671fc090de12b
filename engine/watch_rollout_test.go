package engine

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/firedrill/firedrill/drills"
)

// canaryRollout is testRollout in a canary step of revision 3 (hash rv3)
// over its stable revision 2 (hash rv2), status written as Argo does.
func canaryRollout(t *testing.T, current, stable string) *unstructured.Unstructured {
	t.Helper()
	ro := testRollout(t, "v3", 3)
	ro.Object["status"] = map[string]any{
		"observedGeneration": "1", "phase": "Paused", "currentPodHash": current, "stableRS": stable,
		"replicas": int64(5), "readyReplicas": int64(5),
		"conditions": []any{map[string]any{"type": "Progressing", "status": "True", "reason": "ReplicaSetUpdated"}},
	}
	return ro
}

// rolloutPod is a pod of the Rollout's ReplicaSet of hash, named as Argo
// names them (<rollout>-<hash>-<5 chars>), waiting for reason.
func rolloutPod(hash, suffix, reason string) *corev1.Pod {
	p := waitingPod(testDep+"-"+hash+"-"+suffix, hash, reason)
	p.Labels = map[string]string{"app": testDep, rolloutHashLabel: hash}
	yes := true
	p.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: testDep + "-" + hash, UID: types.UID("rs-" + hash), Controller: &yes}}
	return p
}

// rolloutWatch starts the watch of ro with the Rollout's ReplicaSets v1
// to v3, a Deployment's ReplicaSet with the same labels, and pods.
func rolloutWatch(t *testing.T, ro *unstructured.Unstructured, pods ...runtime.Object) (*Watch, *fake.Clientset, *dynfake.FakeDynamicClient) {
	t.Helper()
	objs := append([]runtime.Object{rolloutReplicaSet("v1", 1), rolloutReplicaSet("v2", 2), rolloutReplicaSet("v3", 3),
		testReplicaSet("v9", 9, 1)}, pods...)
	cs := fake.NewClientset(objs...)
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{rolloutGVR: "RolloutList"}, ro)
	w := NewRolloutWatch(cs, dyn, testNS, testDep)
	startWatch(t, w)
	return w, cs, dyn
}

func TestRolloutSnapshotCanaryAndStable(t *testing.T) {
	w, _, _ := rolloutWatch(t, canaryRollout(t, "rv3", "rv2"),
		rolloutPod("rv2", "aaaaa", ""), rolloutPod("rv2", "bbbbb", ""), rolloutPod("rv3", "ccccc", ""))
	snap, err := w.Snapshot()
	require.NoError(t, err)
	require.Equal(t, drills.TargetRollout, snap.Kind)
	require.NotNil(t, snap.Rollout)
	require.Nil(t, snap.Deployment)
	require.Equal(t, rolloutHashLabel, snap.HashLabel)
	require.Equal(t, "payment-rv3", snap.New.Name, "the canary: status.currentPodHash")
	require.Equal(t, "payment-rv2", snap.Previous.Name, "the stable one: status.stableRS")
	require.Equal(t, "rv3", snap.NewHash)
	require.Equal(t, "rv2", snap.PreviousHash)
	require.Len(t, snap.Pods, 3)
	require.Len(t, snap.NewPods, 1)
	require.Equal(t, "payment-rv3-ccccc", snap.NewPods[0].Name)
	require.Equal(t, int64(3), snap.Revision)
	require.Equal(t, int32(4), snap.Replicas)
	require.Equal(t, int32(5), snap.ReadyReplicas)
	require.True(t, snap.InProgress, "a canary step is a rollout under way")
	require.False(t, snap.Stalled)
}

func TestRolloutSnapshotSteadyAndWithoutStatus(t *testing.T) {
	// Healthy on revision 3: New is the stable one, Previous the newest
	// older ReplicaSet.
	ro := canaryRollout(t, "rv3", "rv3")
	require.NoError(t, unstructured.SetNestedField(ro.Object, "Healthy", "status", "phase"))
	w, _, _ := rolloutWatch(t, ro)
	snap, err := w.Snapshot()
	require.NoError(t, err)
	require.Equal(t, "payment-rv3", snap.New.Name)
	require.Equal(t, "payment-rv2", snap.Previous.Name)
	require.False(t, snap.InProgress)

	// No status yet: the ReplicaSet of the Rollout's template.
	w, _, _ = rolloutWatch(t, testRollout(t, "v2", 2))
	snap, err = w.Snapshot()
	require.NoError(t, err)
	require.Equal(t, "payment-rv2", snap.New.Name)
	require.Equal(t, "payment-rv1", snap.Previous.Name)
}

func TestRolloutWatchErrors(t *testing.T) {
	// The Rollout is missing: the signals hold.
	w, _, _ := rolloutWatch(t, &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": "other", "namespace": testNS}}})
	_, err := w.Snapshot()
	require.ErrorContains(t, err, "Rollout shop/payment not found")

	// The API does not serve Rollouts: Start fails at once.
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{rolloutGVR: "RolloutList"})
	dyn.PrependReactor("list", "rollouts", func(k8stesting.Action) (bool, runtime.Object, error) {
		return true, nil, fmt.Errorf("the server could not find the requested resource")
	})
	w = NewRolloutWatch(fake.NewClientset(), dyn, testNS, testDep)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	require.ErrorContains(t, w.Start(ctx), "are the Argo Rollouts CRDs installed?")
}

func TestSequentialSignalReadsTheRolloutCanary(t *testing.T) {
	// The generated expressions select a revision's pods by name
	// (<rollout>-<hash>-<5 chars>), which a Rollout's pods match too.
	sel := drills.TargetScope(drills.Target{Namespace: testNS, Name: testDep}).RevisionMatchers()
	errsT := `sum(http_requests_total{` + sel + `,code=~"5.."})`
	totalT := `sum(http_requests_total{` + sel + `})`
	q := func(tmpl, hash string) string { return strings.ReplaceAll(tmpl, "{{.Revision}}", hash) }
	prom := newFakeProm(t, map[string]float64{
		q(errsT, "rv2"): 2, q(totalT, "rv2"): 2000, // the stable: the baseline
		q(errsT, "rv3"): 0, q(totalT, "rv3"): 0, // the canary's first reading
	})
	w, _, _ := rolloutWatch(t, canaryRollout(t, "rv3", "rv2"))
	s, err := NewSequentialSignal(prom.api(t), w, drills.Statistical{ErrorsExpr: errsT, TotalExpr: totalT})
	require.NoError(t, err)
	obs := s.Observe(context.Background(), time.Now())
	require.Empty(t, obs.Hold)
	require.Empty(t, obs.Evidence, "the baseline reading decides nothing")
	prom.set(q(errsT, "rv3"), 60) // the canary: 15 %
	prom.set(q(totalT, "rv3"), 400)
	obs = s.Observe(context.Background(), time.Now())
	require.Empty(t, obs.Hold)
	require.Len(t, obs.Evidence, 1)
	require.Equal(t, EvidenceSequential, obs.Evidence[0].Kind)
	require.Equal(t, "sprt(revision rv3)", obs.Evidence[0].Source)
	prom.mu.Lock()
	defer prom.mu.Unlock()
	require.Contains(t, prom.queries, q(totalT, "rv2"), "the stable revision is the baseline")
}

func TestKubeSignalCrashLoopOnRolloutCanary(t *testing.T) {
	ctx := context.Background()
	// A crash-looping pod of the stable ReplicaSet is not the release's.
	w, _, _ := rolloutWatch(t, canaryRollout(t, "rv3", "rv2"),
		rolloutPod("rv2", "aaaaa", "CrashLoopBackOff"), rolloutPod("rv3", "ccccc", ""))
	s := NewKubeSignal(w, drills.KubernetesSignals{CrashLoop: true, ImagePull: true, For: drills.D(0)})
	require.Empty(t, s.Observe(ctx, time.Now()).Evidence, "only the canary's pods count")

	w, _, _ = rolloutWatch(t, canaryRollout(t, "rv3", "rv2"),
		rolloutPod("rv2", "aaaaa", ""), rolloutPod("rv3", "ccccc", "CrashLoopBackOff"))
	s = NewKubeSignal(w, drills.KubernetesSignals{CrashLoop: true, ImagePull: true, For: drills.D(0)})
	obs := s.Observe(ctx, time.Now())
	require.Len(t, obs.Evidence, 1)
	require.Equal(t, SignalCrashLoop, obs.Evidence[0].Source)
}

func TestKubeSignalRolloutStalledAndReadyRatio(t *testing.T) {
	ro := canaryRollout(t, "rv3", "rv2")
	require.NoError(t, unstructured.SetNestedField(ro.Object, int64(1), "status", "readyReplicas"))
	require.NoError(t, unstructured.SetNestedSlice(ro.Object, []any{map[string]any{
		"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}}, "status", "conditions"))
	w, _, _ := rolloutWatch(t, ro)
	ratio := 0.5
	s := NewKubeSignal(w, drills.KubernetesSignals{RolloutStalled: true, MinReadyRatio: &ratio, For: drills.D(0)})
	var sources []string
	for _, e := range s.Observe(context.Background(), time.Now()).Evidence {
		sources = append(sources, e.Source)
	}
	require.ElementsMatch(t, []string{SignalRolloutStalled, SignalLowReady}, sources)
}

func TestGuardCrashLoopOnRolloutCanaryReverts(t *testing.T) {
	ro := canaryRollout(t, "rv3", "rv2")
	cs := fake.NewClientset(rolloutReplicaSet("v1", 1), rolloutReplicaSet("v2", 2), rolloutReplicaSet("v3", 3),
		rolloutPod("rv3", "ccccc", "CrashLoopBackOff"))
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{rolloutGVR: "RolloutList"}, ro)
	target := guardTarget
	target.Kind = drills.TargetRollout
	var ev events
	g, err := NewGuard(kubePolicy(), target, WithKubernetes(cs), WithDynamic(dyn), OnEvent(ev.add))
	require.NoError(t, err)
	runGuard(t, g)
	require.Eventually(t, func() bool { return len(ev.of(EventAction)) > 0 }, 10*time.Second, 10*time.Millisecond)
	dec := ev.of(EventDecision)[0]
	require.Equal(t, ActionRollback, dec.Decision.Action)
	require.Equal(t, SignalCrashLoop, dec.Decision.Strongest)
	require.Equal(t, "v3", dec.FromVersion)
	require.Equal(t, "v2", dec.ToVersion)
	act := ev.of(EventAction)[0]
	require.NoError(t, act.Err)
	require.Equal(t, "v2", rolloutImage(t, getRollout(t, dyn)), "aborted and undone to the stable revision")
}
