package engine

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

var rolloutTarget = Target{Kind: drills.TargetRollout, Namespace: testNS, Deployment: testDep, IncidentID: "inc-ro"}

// testRollout is an Argo Rollout running image at revision.
func testRollout(t *testing.T, image string, revision int64) *unstructured.Unstructured {
	t.Helper()
	tmpl, err := runtime.DefaultUnstructuredConverter.ToUnstructured(ptrTo(podTemplate(image, "")))
	require.NoError(t, err)
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": testDep, "namespace": testNS, "uid": "ro-uid", "generation": int64(1),
			"annotations": map[string]any{rolloutRevisionAnnotation: strconv.FormatInt(revision, 10)}},
		"spec": map[string]any{
			"replicas": int64(4),
			"selector": map[string]any{"matchLabels": map[string]any{"app": testDep}},
			"template": tmpl,
		},
	}}
}

// rolloutReplicaSet is a ReplicaSet of the Rollout.
func rolloutReplicaSet(image string, revision int64) *appsv1.ReplicaSet {
	rs := testReplicaSet(image, revision, 0)
	hash := "r" + image
	rs.Name = testDep + "-" + hash
	rs.UID = types.UID("rs-" + hash)
	rs.Labels = map[string]string{"app": testDep, rolloutHashLabel: hash}
	rs.Annotations = map[string]string{rolloutRevisionAnnotation: strconv.FormatInt(revision, 10)}
	rs.Spec.Template = podTemplate(image, "")
	rs.Spec.Template.Labels[rolloutHashLabel] = hash
	yes := true
	rs.OwnerReferences = []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: testDep, UID: "ro-uid", Controller: &yes}}
	return rs
}

func rolloutFixture(t *testing.T, ro *unstructured.Unstructured) (*Revert, *dynfake.FakeDynamicClient, *fake.Clientset) {
	t.Helper()
	cs := fake.NewClientset(rolloutReplicaSet("v1", 1), rolloutReplicaSet("v2", 2), rolloutReplicaSet("v3", 3),
		// Not the Rollout's: a Deployment's ReplicaSet with the same labels.
		testReplicaSet("v9", 9, 1))
	dyn := dynfake.NewSimpleDynamicClient(runtime.NewScheme(), ro)
	r, err := NewStrategy(drills.Strategy{Name: drills.StrategyRevert, Revert: &drills.RevertSettings{}}, Deps{Client: cs, Dynamic: dyn})
	require.NoError(t, err)
	return r.(*Revert), dyn, cs
}

func getRollout(t *testing.T, dyn *dynfake.FakeDynamicClient) *unstructured.Unstructured {
	t.Helper()
	ro, err := dyn.Resource(rolloutGVR).Namespace(testNS).Get(context.Background(), testDep, metav1.GetOptions{})
	require.NoError(t, err)
	return ro
}

func rolloutImage(t *testing.T, ro *unstructured.Unstructured) string {
	t.Helper()
	tmpl, err := rolloutTemplate(ro)
	require.NoError(t, err)
	require.NotContains(t, tmpl.Labels, rolloutHashLabel, "the hash label is not copied back")
	return tmpl.Spec.Containers[0].Image
}

func TestRevertRolloutAbortsAndUndoesOnce(t *testing.T) {
	ctx := context.Background()
	r, dyn, _ := rolloutFixture(t, testRollout(t, "v3", 3))
	out, err := r.Act(ctx, rolloutTarget, Decision{})
	require.NoError(t, err)
	require.False(t, out.AlreadyDone)
	require.Equal(t, "3", out.FromVersion)
	require.Equal(t, "2", out.ToVersion)
	require.Contains(t, out.Message, "aborted Rollout shop/payment and rolled it back from revision 3 to revision 2")

	ro := getRollout(t, dyn)
	abort, _, _ := unstructured.NestedBool(ro.Object, "status", "abort")
	require.True(t, abort, "aborted")
	require.Equal(t, "v2", rolloutImage(t, ro))
	var rec rollbackRecord
	require.NoError(t, json.Unmarshal([]byte(ro.GetAnnotations()[AnnotationRollbackOf]), &rec))
	require.Equal(t, rollbackRecord{FromRevision: 3, ToRevision: 2, ToReplicaSet: "payment-rv2", Incident: "inc-ro"}, rec)

	// The controller gives the reverted ReplicaSet the next revision: the
	// "previous" revision is now the bad one, and a retry must not go there.
	ro.SetAnnotations(map[string]string{rolloutRevisionAnnotation: "4", AnnotationRollbackOf: ro.GetAnnotations()[AnnotationRollbackOf]})
	_, err = dyn.Resource(rolloutGVR).Namespace(testNS).Update(ctx, ro, metav1.UpdateOptions{})
	require.NoError(t, err)
	out, err = r.Act(ctx, rolloutTarget, Decision{})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone, out.Message)
	require.Equal(t, "v2", rolloutImage(t, getRollout(t, dyn)))
}

func TestRevertRolloutToRevisionAndSkip(t *testing.T) {
	ctx := context.Background()
	r, dyn, _ := rolloutFixture(t, testRollout(t, "v3", 3))
	r.toRevision = 1
	out, err := r.Act(ctx, rolloutTarget, Decision{})
	require.NoError(t, err)
	require.Equal(t, "1", out.ToVersion)
	require.Equal(t, "v1", rolloutImage(t, getRollout(t, dyn)))

	r, dyn, _ = rolloutFixture(t, testRollout(t, "v2", 2))
	r.toRevision = 2
	out, err = r.Act(ctx, rolloutTarget, Decision{})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone)
	abort, found, _ := unstructured.NestedBool(getRollout(t, dyn).Object, "status", "abort")
	require.False(t, found || abort, "a Rollout already on the revision is not aborted")

	r.toRevision = 7
	_, err = r.Act(ctx, rolloutTarget, Decision{})
	require.ErrorIs(t, err, ErrRefused)
}

func TestRevertRolloutRefusals(t *testing.T) {
	ctx := context.Background()
	ro := testRollout(t, "v3", 3)
	require.NoError(t, unstructured.SetNestedMap(ro.Object, map[string]any{"apiVersion": "apps/v1", "kind": "Deployment", "name": "payment"}, "spec", "workloadRef"))
	r, _, _ := rolloutFixture(t, ro)
	_, err := r.Act(ctx, rolloutTarget, Decision{})
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "workloadRef")

	noDyn := NewRevert(fake.NewClientset(), nil)
	_, err = noDyn.Act(ctx, rolloutTarget, Decision{})
	require.ErrorIs(t, err, ErrRefused)

	r, _, _ = rolloutFixture(t, testRollout(t, "v3", 3))
	_, err = r.Act(ctx, Target{Kind: drills.TargetRollout, Namespace: testNS, Deployment: "missing"}, Decision{})
	require.ErrorContains(t, err, "are the Argo Rollouts CRDs installed?")
}

func TestRevertRolloutWaitsUntilHealthy(t *testing.T) {
	ctx := context.Background()
	r, dyn, _ := rolloutFixture(t, testRollout(t, "v3", 3))
	r.timeout, r.pollInterval = 300*time.Millisecond, 10*time.Millisecond
	_, err := r.Act(ctx, rolloutTarget, Decision{})
	require.ErrorContains(t, err, "did not settle")

	ro := getRollout(t, dyn)
	require.NoError(t, unstructured.SetNestedField(ro.Object, map[string]any{
		"observedGeneration": "1", "currentPodHash": "rv2", "stableRS": "rv2", "phase": "Healthy", "abort": true,
	}, "status"))
	_, err = dyn.Resource(rolloutGVR).Namespace(testNS).Update(ctx, ro, metav1.UpdateOptions{})
	require.NoError(t, err)
	out, err := r.Act(ctx, rolloutTarget, Decision{})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone)
	require.Contains(t, out.Message, `Rollout "payment" is Healthy on replica set hash rv2`)
}

func TestRolloutSettled(t *testing.T) {
	ro := &unstructured.Unstructured{Object: map[string]any{"metadata": map[string]any{"name": "r", "generation": int64(2)}}}
	set := func(status map[string]any) { ro.Object["status"] = status }
	for _, c := range []struct {
		status map[string]any
		done   bool
		msg    string
	}{
		{map[string]any{"observedGeneration": "1"}, false, "spec update"},
		{map[string]any{"observedGeneration": "2", "currentPodHash": "b", "stableRS": "a"}, false, "to become stable"},
		{map[string]any{"observedGeneration": "2", "currentPodHash": "a", "stableRS": "a", "phase": "Degraded"}, false, "is Degraded"},
		{map[string]any{"observedGeneration": "2", "currentPodHash": "a", "stableRS": "a", "phase": "Healthy"}, true, "Healthy"},
	} {
		set(c.status)
		msg, done := rolloutSettled(ro)
		require.Equal(t, c.done, done, msg)
		require.Contains(t, msg, c.msg)
	}
}
