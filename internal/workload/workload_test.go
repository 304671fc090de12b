package workload

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
)

const ns = "demo"

// rollout is a canary Rollout with two containers, as Argo reports it
// when Healthy (status.observedGeneration is a string there).
func rollout() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1",
		"kind":       "Rollout",
		"metadata": map[string]any{
			"name": "payment", "namespace": ns, "uid": "ro-uid", "generation": int64(3),
			"annotations": map[string]any{"rollout.argoproj.io/revision": "2", "owner": "team"},
		},
		"spec": map[string]any{
			"replicas": int64(5),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "payment"}},
			"strategy": map[string]any{"canary": map[string]any{"steps": []any{map[string]any{"setWeight": int64(20)}}}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "payment"}},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "proxy", "image": "envoy:1"},
					map[string]any{"name": "payment", "image": "payment:v1", "env": []any{
						map[string]any{"name": "MODE", "value": "good"},
						map[string]any{"name": "KEEP", "value": "yes"},
					}},
				}},
			},
		},
		"status": map[string]any{
			"observedGeneration": "3", "phase": "Healthy", "currentPodHash": "abc", "stableRS": "abc",
		},
	}}
}

func fakeDynamic(objs ...runtime.Object) *dynfake.FakeDynamicClient {
	return dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{RolloutGVR: "RolloutList"}, objs...)
}

func TestFromRollout(t *testing.T) {
	w, err := FromRollout(rollout())
	require.NoError(t, err)
	require.Equal(t, drills.TargetRollout, w.Kind)
	require.Equal(t, "Rollout demo/payment", w.String())
	require.Equal(t, "2", w.Revision)
	require.Equal(t, RolloutHashLabel, w.HashLabel)
	require.Equal(t, int32(5), w.ReplicaCount())
	require.Equal(t, map[string]string{"app": "payment"}, w.Selector.MatchLabels)
	require.Equal(t, []string{"proxy", "payment"}, w.ContainerNames())
	require.True(t, w.Healthy, w.Status)

	for name, tc := range map[string]struct {
		status map[string]any
		want   string
	}{
		"not observed": {map[string]any{"observedGeneration": "2", "phase": "Healthy", "currentPodHash": "abc", "stableRS": "abc"}, "spec update"},
		"canary":       {map[string]any{"observedGeneration": "3", "phase": "Paused", "currentPodHash": "def", "stableRS": "abc"}, "(def) to become stable (abc)"},
		"degraded":     {map[string]any{"observedGeneration": "3", "phase": "Degraded", "message": "ProgressDeadlineExceeded", "currentPodHash": "abc", "stableRS": "abc"}, "Degraded: ProgressDeadlineExceeded"},
		"int gen":      {map[string]any{"observedGeneration": int64(3), "phase": "Healthy", "currentPodHash": "abc", "stableRS": "abc"}, ""},
	} {
		t.Run(name, func(t *testing.T) {
			ro := rollout()
			ro.Object["status"] = tc.status
			w, err := FromRollout(ro)
			require.NoError(t, err)
			require.Equal(t, tc.want == "", w.Healthy, w.Status)
			require.Contains(t, w.Status, tc.want)
		})
	}

	ro := rollout()
	require.NoError(t, unstructured.SetNestedMap(ro.Object, map[string]any{"kind": "Deployment", "name": "x"}, "spec", "workloadRef"))
	_, err = FromRollout(ro)
	require.ErrorContains(t, err, "workloadRef")
}

// TestFromRolloutBlueGreen: health reads the same status fields for a
// blue-green Rollout: Healthy on the active (stable) ReplicaSet, not
// healthy while a preview waits for promotion.
func TestFromRolloutBlueGreen(t *testing.T) {
	ro := rollout()
	require.NoError(t, unstructured.SetNestedMap(ro.Object, map[string]any{
		"blueGreen": map[string]any{"activeService": "payment", "previewService": "payment-preview", "autoPromotionEnabled": false},
	}, "spec", "strategy"))
	ro.Object["status"] = map[string]any{"observedGeneration": "3", "phase": "Healthy", "currentPodHash": "abc", "stableRS": "abc",
		"blueGreen": map[string]any{"activeSelector": "abc"}}
	w, err := FromRollout(ro)
	require.NoError(t, err)
	require.True(t, w.Healthy, w.Status)

	ro.Object["status"] = map[string]any{"observedGeneration": "3", "phase": "Paused", "message": "BlueGreenPause", "currentPodHash": "def", "stableRS": "abc",
		"blueGreen": map[string]any{"activeSelector": "abc", "previewSelector": "def"}}
	w, err = FromRollout(ro)
	require.NoError(t, err)
	require.False(t, w.Healthy)
	require.Contains(t, w.Status, "(def) to become stable (abc)")
}

func TestContainerName(t *testing.T) {
	w, err := FromRollout(rollout())
	require.NoError(t, err)
	name, err := w.ContainerName(Choice{Field: "badImage.container"}, Choice{Field: "spec.target.container"})
	require.NoError(t, err)
	require.Equal(t, "proxy", name, "no choice: the first container")
	name, err = w.ContainerName(Choice{Field: "badImage.container"}, Choice{Field: "spec.target.container", Name: "payment"})
	require.NoError(t, err)
	require.Equal(t, "payment", name)
	name, err = w.ContainerName(Choice{Field: "badImage.container", Name: "proxy"}, Choice{Field: "spec.target.container", Name: "payment"})
	require.NoError(t, err)
	require.Equal(t, "proxy", name, "the first choice set wins")
	_, err = w.ContainerName(Choice{Field: "spec.target.container", Name: "paymnet"})
	require.EqualError(t, err, `spec.target.container: Rollout demo/payment has no container "paymnet" (its containers: "proxy", "payment")`)
	var nc *NoContainerError
	require.ErrorAs(t, err, &nc)
	require.Equal(t, "paymnet", nc.Name)

	empty := &Workload{Kind: drills.TargetDeployment, Namespace: ns, Name: "x"}
	_, err = empty.ContainerName()
	require.ErrorContains(t, err, "has no containers")
}

func TestFor(t *testing.T) {
	_, err := For(drills.TargetRollout, fake.NewClientset(), nil)
	require.ErrorContains(t, err, "dynamic")
	_, err = For("StatefulSet", fake.NewClientset(), nil)
	require.ErrorContains(t, err, "not supported")
	wc, err := For("", fake.NewClientset(), nil)
	require.NoError(t, err)
	require.Equal(t, drills.TargetDeployment, wc.Kind())
}

// TestRolloutPatch merges a Deployment-schema strategic-merge patch into a
// Rollout: containers and env by name, $patch delete, null deletes an
// annotation, and what the patch does not name (the other container, the
// canary strategy, other annotations) stays.
func TestRolloutPatch(t *testing.T) {
	dyn := fakeDynamic(rollout())
	wc, err := For(drills.TargetRollout, nil, dyn)
	require.NoError(t, err)
	ctx := context.Background()
	patch := `{"metadata":{"annotations":{"firedrill.dev/bad-image":"{}","owner":null}},
		"spec":{"template":{"metadata":{"annotations":{"firedrill.dev/pushed-at":"t0"}},
		"spec":{"containers":[{"name":"payment","image":"payment:v2-buggy","env":[{"name":"MODE","value":"bad"},{"name":"KEEP","$patch":"delete"}]}]}}}}`
	require.NoError(t, wc.Patch(ctx, ns, "payment", []byte(patch)))
	w, err := wc.Get(ctx, ns, "payment")
	require.NoError(t, err)
	require.Equal(t, "envoy:1", w.Container("proxy").Image)
	require.Equal(t, "payment:v2-buggy", w.Container("payment").Image)
	require.Equal(t, []corev1.EnvVar{{Name: "MODE", Value: "bad"}}, w.Container("payment").Env)
	require.Equal(t, map[string]string{"firedrill.dev/bad-image": "{}", "rollout.argoproj.io/revision": "2"}, w.Annotations)
	require.Equal(t, "t0", w.Template.Annotations["firedrill.dev/pushed-at"])
	ro := w.Object.(*unstructured.Unstructured)
	steps, _, _ := unstructured.NestedSlice(ro.Object, "spec", "strategy", "canary", "steps")
	require.Len(t, steps, 1, "the canary strategy stays")

	require.ErrorContains(t, wc.Patch(ctx, ns, "missing", []byte(`{}`)), "rollout demo/missing")
}

// TestRolloutMutate writes back only the fields fn changed.
func TestRolloutMutate(t *testing.T) {
	dyn := fakeDynamic(rollout())
	wc, err := For(drills.TargetRollout, nil, dyn)
	require.NoError(t, err)
	ctx := context.Background()
	changed, err := wc.Mutate(ctx, ns, "payment", func(*Workload) bool { return false })
	require.NoError(t, err)
	require.False(t, changed)
	require.Empty(t, updates(dyn), "nothing written when fn says so")

	changed, err = wc.Mutate(ctx, ns, "payment", func(w *Workload) bool {
		w.Container("payment").Image = "payment:v3"
		w.Paused = true
		return true
	})
	require.NoError(t, err)
	require.True(t, changed)
	ro, err := dyn.Resource(RolloutGVR).Namespace(ns).Get(ctx, "payment", metav1.GetOptions{})
	require.NoError(t, err)
	paused, _, _ := unstructured.NestedBool(ro.Object, "spec", "paused")
	require.True(t, paused)
	replicas, _, _ := unstructured.NestedInt64(ro.Object, "spec", "replicas")
	require.Equal(t, int64(5), replicas)
	w, err := FromRollout(ro)
	require.NoError(t, err)
	require.Equal(t, "payment:v3", w.Container("payment").Image)
	require.Equal(t, "envoy:1", w.Container("proxy").Image)
	_, found, _ := unstructured.NestedMap(ro.Object, "spec", "strategy", "canary")
	require.True(t, found)
}

func updates(dyn *dynfake.FakeDynamicClient) []string {
	var out []string
	for _, a := range dyn.Actions() {
		if a.GetVerb() == "update" || a.GetVerb() == "patch" {
			out = append(out, a.GetVerb())
		}
	}
	return out
}

func TestDeployments(t *testing.T) {
	r := int32(2)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "payment", Namespace: ns, UID: "dep-uid", Generation: 4,
			Annotations: map[string]string{"deployment.kubernetes.io/revision": "7"}},
		Spec: appsv1.DeploymentSpec{Replicas: &r, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "payment"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "payment", Image: "payment:v1"}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 4, Replicas: 2, UpdatedReplicas: 2, AvailableReplicas: 1},
	}
	own := func(name string) *appsv1.ReplicaSet {
		return &appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": "payment"},
			OwnerReferences: []metav1.OwnerReference{{Kind: "Deployment", Name: "payment", UID: "dep-uid", Controller: new(true)}}}}
	}
	other := own("other-rs")
	other.OwnerReferences[0].UID = "someone-else"
	cs := fake.NewClientset(dep, own("payment-1"), other)
	wc, err := For(drills.TargetDeployment, cs, nil)
	require.NoError(t, err)
	ctx := context.Background()
	w, err := wc.Get(ctx, ns, "payment")
	require.NoError(t, err)
	require.Equal(t, "7", w.Revision)
	require.Equal(t, appsv1.DefaultDeploymentUniqueLabelKey, w.HashLabel)
	require.False(t, w.Healthy)
	require.Equal(t, "1/2 updated replicas available", w.Status)
	rss, err := ReplicaSets(ctx, cs, w)
	require.NoError(t, err)
	require.Len(t, rss, 1)
	require.Equal(t, "payment-1", rss[0].Name)

	require.NoError(t, wc.Patch(ctx, ns, "payment", []byte(`{"spec":{"template":{"spec":{"containers":[{"name":"payment","image":"payment:v2"}]}}}}`)))
	changed, err := wc.Mutate(ctx, ns, "payment", func(w *Workload) bool {
		require.Equal(t, "payment:v2", w.Container("payment").Image)
		w.Container("payment").Image = "payment:v1"
		return true
	})
	require.NoError(t, err)
	require.True(t, changed)
	got, err := cs.AppsV1().Deployments(ns).Get(ctx, "payment", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "payment:v1", got.Spec.Template.Spec.Containers[0].Image)
	b, _ := json.Marshal(got.Spec.Selector)
	require.JSONEq(t, `{"matchLabels":{"app":"payment"}}`, string(b))
}
