package engine_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/clusters/local/argorollouts"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/deploy"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
	"github.com/firedrill/firedrill/internal/testenv"
)

var rolloutsGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

// TestRevertArgoRollout runs the real Argo Rollouts controller, pushes
// payment:v2-buggy into the canary of deploy/argo's Rollout (its analysis
// at Argo's documented 5-minute interval, so Argo itself does not act
// within the test), and checks that the engine's revert aborts and undoes
// it: the Rollout's template is payment:v1 again, the Rollout settles
// Healthy on the old ReplicaSet, and no v2-buggy pod is left. Then the
// human strategy pauses the Rollout.
func TestRevertArgoRollout(t *testing.T) {
	toolDir := argorollouts.DefaultDir()
	testenv.Integration(t, argorollouts.Binary(toolDir))
	st := shared.Stack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg, err := st.Cluster().RESTConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)

	ctl, err := argorollouts.Start(ctx, st.Cluster().Kubeconfig(), argorollouts.WithToolDir(toolDir),
		argorollouts.WithWorkDir(filepath.Join(t.TempDir(), "argo")), argorollouts.WithNamespace(stack.Namespace),
		argorollouts.WithLogger(stacktest.Logger()))
	require.NoError(t, err)
	b, err := deploy.Manifests("argo")
	require.NoError(t, err)
	objs, err := deploy.Decode(b)
	require.NoError(t, err)
	ap, err := deploy.NewApplier(cfg)
	require.NoError(t, err)
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		// The Rollout and its pods first, while the controller still runs.
		require.NoError(t, ap.Delete(cctx, objs))
		require.NoError(t, wait.PollUntilContextTimeout(cctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
			pods, err := cs.CoreV1().Pods(stack.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=payment-argo"})
			return err == nil && len(pods.Items) == 0, nil
		}), "the Rollout's pods are gone")
		require.NoError(t, ctl.Stop(cctx))
		require.NoError(t, argorollouts.DeleteCRDs(cctx, st.Cluster().Kubeconfig(), toolDir))
	})
	require.NoError(t, ap.Apply(ctx, objs, deploy.Options{}))
	ro := dyn.Resource(rolloutsGVR).Namespace(stack.Namespace)
	const name = "payment-argo"
	settled := func(image string) wait.ConditionWithContextFunc {
		return func(ctx context.Context) (bool, error) {
			o, err := ro.Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			return rolloutImage(o) == image && status(o, "phase") == "Healthy" && status(o, "stableRS") == status(o, "currentPodHash"), nil
		}
	}
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, settled("payment:v1")), "the Rollout is Healthy on payment:v1")
	o, err := ro.Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	stable := status(o, "stableRS")

	// The bad release: the canary step (20 %, one pod) and a 10-minute pause.
	ctrs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	require.Len(t, ctrs, 1)
	ctrs[0].(map[string]any)["image"] = "payment:v2-buggy"
	require.NoError(t, unstructured.SetNestedSlice(o.Object, ctrs, "spec", "template", "spec", "containers"))
	_, err = ro.Update(ctx, o, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(stack.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=payment-argo"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Spec.Containers[0].Image == "payment:v2-buggy" && p.Status.Phase == "Running" {
				return true, nil
			}
		}
		return false, nil
	}), "the canary runs payment:v2-buggy")

	s, err := engine.NewStrategy(drills.Strategy{Name: drills.StrategyRevert, Revert: &drills.RevertSettings{Timeout: drills.D(2 * time.Minute)}},
		engine.Deps{Client: cs, Dynamic: dyn})
	require.NoError(t, err)
	target := engine.Target{Kind: drills.TargetRollout, Namespace: stack.Namespace, Deployment: name, IncidentID: "it-rollout"}
	out, err := s.Act(ctx, target, engine.Decision{})
	require.NoError(t, err)
	t.Logf("revert: %s", out.Message)
	require.Contains(t, out.Message, "aborted Rollout")
	require.Contains(t, out.Message, "is Healthy")

	o, err = ro.Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "payment:v1", rolloutImage(o))
	require.Equal(t, stable, status(o, "stableRS"), "back on the ReplicaSet it ran before the push")
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(stack.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=payment-argo"})
		if err != nil {
			return false, err
		}
		for _, p := range pods.Items {
			if p.Spec.Containers[0].Image == "payment:v2-buggy" {
				return false, nil
			}
		}
		return true, nil
	}), "no payment:v2-buggy pod is left")

	// A retry does nothing: the record says it was done.
	out, err = s.Act(ctx, target, engine.Decision{})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone, out.Message)
	o, err = ro.Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "payment:v1", rolloutImage(o))

	// Handing over to a human pauses the Rollout, and the controller
	// reports it paused; the Event names the Rollout.
	h, err := engine.NewStrategy(drills.Strategy{Name: drills.StrategyHuman}, engine.Deps{Client: cs, Dynamic: dyn})
	require.NoError(t, err)
	out, err = h.Act(ctx, target, engine.Decision{Action: engine.ActionRequireHuman, Reason: "integration test hand-over"})
	require.NoError(t, err)
	require.False(t, out.AlreadyDone, out.Message)
	const event = name + ".firedrill-it-rollout"
	t.Cleanup(func() {
		_ = cs.CoreV1().Events(stack.Namespace).Delete(context.Background(), event, metav1.DeleteOptions{})
	})
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		o, err := ro.Get(ctx, name, metav1.GetOptions{})
		return err == nil && status(o, "phase") == "Paused", err
	}), "the controller reports the Rollout Paused")
	ev, err := cs.CoreV1().Events(stack.Namespace).Get(ctx, event, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "Rollout", ev.InvolvedObject.Kind)
	require.Equal(t, engine.EventReasonHuman, ev.Reason)
}

func rolloutImage(o *unstructured.Unstructured) string {
	ctrs, _, _ := unstructured.NestedSlice(o.Object, "spec", "template", "spec", "containers")
	if len(ctrs) == 0 {
		return ""
	}
	img, _ := ctrs[0].(map[string]any)["image"].(string)
	return img
}

func status(o *unstructured.Unstructured, field string) string {
	v, _, _ := unstructured.NestedString(o.Object, "status", field)
	return v
}
