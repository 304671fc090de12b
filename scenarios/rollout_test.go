package scenarios

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/internal/workload"
)

var rolloutTarget = drills.Target{Kind: drills.TargetRollout, Namespace: ns, Name: "payment-ro"}

// rolloutObj is a Healthy canary Rollout with a sidecar first and the
// payment container second.
func rolloutObj() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": "payment-ro", "namespace": ns, "uid": "ro-uid", "generation": int64(1),
			"annotations": map[string]any{"rollout.argoproj.io/revision": "1"}},
		"spec": map[string]any{
			"replicas": int64(5),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "payment-ro"}},
			"strategy": map[string]any{"canary": map[string]any{"steps": []any{map[string]any{"setWeight": int64(20)}}}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "payment-ro"}},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "proxy", "image": "envoy:1"},
					map[string]any{"name": "payment", "image": "payment:v1", "env": []any{map[string]any{"name": "MODE", "value": "good"}}},
				}},
			},
		},
		"status": map[string]any{"observedGeneration": "1", "phase": "Healthy", "currentPodHash": "s1", "stableRS": "s1"},
	}}
}

func rolloutFixture() (*fake.Clientset, *dynfake.FakeDynamicClient, Deps) {
	cs := fake.NewClientset()
	dyn := dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{workload.RolloutGVR: "RolloutList"}, rolloutObj())
	deps := testDeps(cs)
	deps.Dynamic = dyn
	return cs, dyn, deps
}

func getRollout(t *testing.T, dyn *dynfake.FakeDynamicClient) *workload.Workload {
	t.Helper()
	ro, err := dyn.Resource(workload.RolloutGVR).Namespace(ns).Get(context.Background(), "payment-ro", metav1.GetOptions{})
	require.NoError(t, err)
	w, err := workload.FromRollout(ro)
	require.NoError(t, err)
	return w
}

// addRolloutReplicaSet makes the fake cluster look like Argo Rollouts ran
// the Rollout's current template: a ReplicaSet it controls and ready pods,
// labelled with rollouts-pod-template-hash.
func addRolloutReplicaSet(t *testing.T, cs *fake.Clientset, w *workload.Workload, hash string, pods int) {
	t.Helper()
	ctx := context.Background()
	tmpl := w.Template.DeepCopy()
	tmpl.Labels = map[string]string{"app": "payment-ro", workload.RolloutHashLabel: hash}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "payment-ro-" + hash, Namespace: ns, Labels: tmpl.Labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "argoproj.io/v1alpha1", Kind: "Rollout", Name: w.Name, UID: w.UID, Controller: new(true)}}},
		Spec: appsv1.ReplicaSetSpec{Template: *tmpl},
	}
	_, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
	require.NoError(t, err)
	for i := range pods {
		p := pod("payment-ro-"+hash+"-"+string(rune('a'+i)), corev1.PodRunning, tmpl.Labels)
		p.Spec = tmpl.Spec
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

// TestBadImageRollout pushes a bad image into the container that
// spec.target.container names (not the first one), proves it by the
// Rollout's ReplicaSet's pods, and puts the old image back.
func TestBadImageRollout(t *testing.T) {
	cs, dyn, deps := rolloutFixture()
	tgt := rolloutTarget
	tgt.Container = "payment"
	f, err := NewNativeRegistry(deps).Build(context.Background(), drills.Fault{Type: drills.FaultBadImage, Name: "bad-image",
		BadImage: &drills.BadImageSettings{Image: "payment:v2-buggy"}}, tgt)
	require.NoError(t, err)
	require.Equal(t, "bad-image: roll out payment:v2-buggy on rollout demo/payment-ro", f.Describe())
	inj, err := f.Inject(context.Background())
	require.NoError(t, err)
	require.Equal(t, []Target{{Kind: "Rollout", Namespace: ns, Name: "payment-ro", UID: "ro-uid"}}, inj.Targets)
	require.Equal(t, "Rollout demo/payment-ro", inj.Changes[0].Object)

	w := getRollout(t, dyn)
	require.Equal(t, "envoy:1", w.Container("proxy").Image, "the sidecar is left alone")
	require.Equal(t, "payment:v2-buggy", w.Container("payment").Image)
	require.Equal(t, "test-drill", w.Annotations[AnnotationOwner])
	var rec badImageRecord
	require.NoError(t, json.Unmarshal([]byte(w.Annotations[AnnotationBadImage]), &rec))
	require.Equal(t, badImageRecord{Container: "payment", Image: "payment:v2-buggy", PreviousImage: "payment:v1", PreviousRevision: "1"}, rec)

	st, err := f.Status(context.Background())
	require.NoError(t, err)
	require.False(t, st.Effective, st.Message)
	addRolloutReplicaSet(t, cs, w, "c2", 1)
	st, err = f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective, st.Message)
	require.Contains(t, st.Message, "pod payment-ro-c2-a of ReplicaSet payment-ro-c2")

	require.NoError(t, f.Remove(context.Background()))
	w = getRollout(t, dyn)
	require.Equal(t, "payment:v1", w.Container("payment").Image)
	require.NotContains(t, w.Template.Annotations, AnnotationPushedAt)
	for _, a := range []string{AnnotationOwner, AnnotationExpires, AnnotationBadImage} {
		require.NotContains(t, w.Annotations, a)
	}
	steps, _, _ := unstructured.NestedSlice(w.Object.(*unstructured.Unstructured).Object, "spec", "strategy", "canary", "steps")
	require.Len(t, steps, 1, "the strategy is untouched")
}

// TestBadConfigEnvRollout sets env on the first container when
// spec.target.container is empty, and takes it back.
func TestBadConfigEnvRollout(t *testing.T) {
	_, dyn, deps := rolloutFixture()
	f, err := NewNativeRegistry(deps).Build(context.Background(), drills.Fault{Type: drills.FaultBadConfig, Name: "bad-config",
		BadConfig: &drills.BadConfigSettings{Env: map[string]string{"MODE": "broken"}}}, rolloutTarget)
	require.NoError(t, err)
	_, err = f.Inject(context.Background())
	require.NoError(t, err)
	w := getRollout(t, dyn)
	require.Equal(t, []corev1.EnvVar{{Name: "MODE", Value: "broken"}}, w.Container("proxy").Env, "the first container")
	require.Equal(t, []corev1.EnvVar{{Name: "MODE", Value: "good"}}, w.Container("payment").Env)
	require.NotEmpty(t, w.Template.Annotations[AnnotationRestartedAt])
	require.NoError(t, f.Remove(context.Background()))
	w = getRollout(t, dyn)
	require.Empty(t, w.Container("proxy").Env)
	require.NotContains(t, w.Annotations, AnnotationBadConfig)
}

// TestFaultContainerNotFound: a container name the template lacks is an
// error naming the field and the containers there are.
func TestFaultContainerNotFound(t *testing.T) {
	_, _, deps := rolloutFixture()
	tgt := rolloutTarget
	tgt.Container = "api"
	for _, spec := range []drills.Fault{
		{Type: drills.FaultBadImage, Name: "bad-image", BadImage: &drills.BadImageSettings{Image: "payment:v2"}},
		{Type: drills.FaultBadConfig, Name: "bad-config", BadConfig: &drills.BadConfigSettings{Env: map[string]string{"MODE": "x"}}},
	} {
		f, err := NewNativeRegistry(deps).Build(context.Background(), spec, tgt)
		require.NoError(t, err)
		_, err = f.Inject(context.Background())
		require.ErrorContains(t, err, `spec.target.container: Rollout demo/payment-ro has no container "api" (its containers: "proxy", "payment")`)
	}
	// badImage.container wins over the target's and is named when wrong.
	f, err := NewNativeRegistry(deps).Build(context.Background(), drills.Fault{Type: drills.FaultBadImage, Name: "bad-image",
		BadImage: &drills.BadImageSettings{Image: "payment:v2", Container: "sidecar"}}, tgt)
	require.NoError(t, err)
	_, err = f.Inject(context.Background())
	require.ErrorContains(t, err, `badImage.container: Rollout demo/payment-ro has no container "sidecar"`)

	// The Deployment path names the field too.
	cs := fixture(t, 0)
	dtgt := target
	dtgt.Container = "api"
	f, err = NewNativeRegistry(testDeps(cs)).Build(context.Background(), drills.Fault{Type: drills.FaultBadImage, Name: "bad-image",
		BadImage: &drills.BadImageSettings{Image: "payment:v2"}}, dtgt)
	require.NoError(t, err)
	_, err = f.Inject(context.Background())
	require.ErrorContains(t, err, `spec.target.container: Deployment demo/payment has no container "api" (its containers: "payment")`)
}

// TestRolloutNeedsDynamic: without a dynamic client a Rollout target is a
// clear error, not a Deployment lookup.
func TestRolloutNeedsDynamic(t *testing.T) {
	cs := fake.NewClientset()
	f, err := NewNativeRegistry(testDeps(cs)).Build(context.Background(), drills.Fault{Type: drills.FaultBadImage, Name: "bad-image",
		BadImage: &drills.BadImageSettings{Image: "payment:v2"}}, rolloutTarget)
	require.NoError(t, err)
	_, err = f.Inject(context.Background())
	require.ErrorContains(t, err, "needs a dynamic Kubernetes client")
}

// TestSweeperRollout reverts a bad image a crashed run left on a Rollout.
func TestSweeperRollout(t *testing.T) {
	_, dyn, deps := rolloutFixture()
	tgt := rolloutTarget
	tgt.Container = "payment"
	f, err := NewNativeRegistry(deps).Build(context.Background(), drills.Fault{Type: drills.FaultBadImage, Name: "bad-image",
		BadImage: &drills.BadImageSettings{Image: "payment:v2-buggy"}}, tgt)
	require.NoError(t, err)
	_, err = f.Inject(context.Background())
	require.NoError(t, err)
	done, err := NewSweeper(deps).Sweep(context.Background(), SweepOptions{Namespace: ns, Owner: "test-drill"})
	require.NoError(t, err)
	require.Equal(t, []string{"Rollout demo/payment-ro: bad image payment:v2-buggy reverted to payment:v1"}, done)
	w := getRollout(t, dyn)
	require.Equal(t, "envoy:1", w.Container("proxy").Image)
	require.Equal(t, "payment:v1", w.Container("payment").Image, "the record's container")
	require.NotContains(t, w.Annotations, AnnotationBadImage)
}
