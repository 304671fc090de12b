package runner_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	dynfake "k8s.io/client-go/dynamic/fake"
	"k8s.io/utils/ptr"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
)

// fakeRollout is a Healthy canary Rollout "web" in "shop" (the Service of
// fakeTarget fronts it), with a pre-drill firedrill.dev/ mark.
func fakeRollout() *dynfake.FakeDynamicClient {
	ro := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
		"metadata": map[string]any{"name": "web", "namespace": "shop", "uid": "ro-uid", "generation": int64(1),
			"annotations": map[string]any{"rollout.argoproj.io/revision": "4", "firedrill.dev/note": "kept", "team": "a"}},
		"spec": map[string]any{
			"replicas": int64(1),
			"selector": map[string]any{"matchLabels": map[string]any{"app": "web"}},
			"strategy": map[string]any{"canary": map[string]any{"steps": []any{map[string]any{"setWeight": int64(20)}}}},
			"template": map[string]any{
				"metadata": map[string]any{"labels": map[string]any{"app": "web"}},
				"spec": map[string]any{"containers": []any{
					map[string]any{"name": "proxy", "image": "envoy:1"},
					map[string]any{"name": "web", "image": "web:v1"},
				}},
			},
		},
		"status": map[string]any{"observedGeneration": "1", "phase": "Healthy", "currentPodHash": "s1", "stableRS": "s1"},
	}}
	return dynfake.NewSimpleDynamicClientWithCustomListKinds(runtime.NewScheme(),
		map[schema.GroupVersionResource]string{rolloutsGVR: "RolloutList"}, ro)
}

func rolloutStub(t *testing.T) *drills.Drill {
	d := stubDrill(t)
	d.Spec.Target.Kind = drills.TargetRollout
	d.Spec.Target.Container = "web"
	return d
}

// TestRolloutTeardownPutsBackOnlyWhatTheDrillWrote: the fault (and an
// engine) change the Rollout's template, pause it and leave records;
// meanwhile its owner changes the canary steps and a label. Teardown puts
// back the template, spec.paused and the firedrill.dev/ annotations as
// they were, and leaves the owner's changes alone.
func TestRolloutTeardownPutsBackOnlyWhatTheDrillWrote(t *testing.T) {
	cs := fakeTarget(t)
	dyn := fakeRollout()
	ri := dyn.Resource(rolloutsGVR).Namespace("shop")
	f := &stubFault{effective: true}
	f.onInject = func() {
		ro, err := ri.Get(context.Background(), "web", metav1.GetOptions{})
		require.NoError(t, err)
		ctrs, _, _ := unstructured.NestedSlice(ro.Object, "spec", "template", "spec", "containers")
		ctrs[1].(map[string]any)["image"] = "web:v2-bad"
		require.NoError(t, unstructured.SetNestedSlice(ro.Object, ctrs, "spec", "template", "spec", "containers"))
		require.NoError(t, unstructured.SetNestedField(ro.Object, true, "spec", "paused"))
		require.NoError(t, unstructured.SetNestedSlice(ro.Object, []any{map[string]any{"setWeight": int64(50)}}, "spec", "strategy", "canary", "steps"))
		ann := ro.GetAnnotations()
		ann["firedrill.dev/rollback-of"] = "{}"
		ann["team"] = "b"
		ro.SetAnnotations(ann)
		_, err = ri.Update(context.Background(), ro, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	res, err := stubRunner(cs, f, runner.WithDynamic(dyn)).Run(context.Background(), rolloutStub(t))
	require.NoError(t, err)
	require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
	require.Positive(t, f.removals())

	ro, err := ri.Get(context.Background(), "web", metav1.GetOptions{})
	require.NoError(t, err)
	ctrs, _, _ := unstructured.NestedSlice(ro.Object, "spec", "template", "spec", "containers")
	require.Equal(t, "web:v1", ctrs[1].(map[string]any)["image"], "the template is back")
	paused, _, _ := unstructured.NestedBool(ro.Object, "spec", "paused")
	require.False(t, paused, "not paused any more")
	require.Equal(t, map[string]string{"rollout.argoproj.io/revision": "4", "firedrill.dev/note": "kept", "team": "b"}, ro.GetAnnotations(),
		"the drill's records gone, the pre-drill mark back, the owner's annotation left")
	steps, _, _ := unstructured.NestedSlice(ro.Object, "spec", "strategy", "canary", "steps")
	require.Equal(t, []any{map[string]any{"setWeight": int64(50)}}, steps, "the owner's strategy change is left alone")
	var note bool
	for _, e := range res.Events {
		if e.Message == "teardown put back what the drill changed on Rollout shop/web (revision 4's values) and its annotations" {
			note = true
		}
	}
	require.True(t, note, "teardown says what it put back")
}

func TestRolloutPreflightErrors(t *testing.T) {
	cs := fakeTarget(t)
	f := &stubFault{effective: true}

	// No dynamic client: a clear error, no Deployment lookup.
	res, err := runner.New(cs, runner.WithBackends(stubRunnerBackends(cs, f))).Run(context.Background(), rolloutStub(t))
	require.NoError(t, err)
	require.Equal(t, drills.VerdictError, res.Verdict)
	require.Contains(t, res.Reason, "target Rollout shop/web: workload: a Rollout target needs a dynamic Kubernetes client")

	// A container the template lacks names the field and what exists.
	d := rolloutStub(t)
	d.Spec.Target.Container = "api"
	res, err = runner.New(cs, runner.WithDynamic(fakeRollout()), runner.WithBackends(stubRunnerBackends(cs, f))).Run(context.Background(), d)
	require.NoError(t, err)
	require.Equal(t, drills.VerdictError, res.Verdict)
	require.Contains(t, res.Reason, `spec.target.container: Rollout shop/web has no container "api" (its containers: "proxy", "web")`)

	// The same check on a Deployment.
	d = stubDrill(t)
	d.Spec.Target.Container = "api"
	res, err = stubRunner(cs, f).Run(context.Background(), d)
	require.NoError(t, err)
	require.Equal(t, drills.VerdictError, res.Verdict)
	require.Contains(t, res.Reason, `spec.target.container: Deployment shop/web has no container "api" (its containers: "web")`)
	require.Zero(t, f.removals(), "no fault went in")
}

// TestRolloutGuardWatchesTheRollout: the runner hands the engine its
// dynamic client, so a Rollout's Kubernetes signals read the Rollout (no
// HOLD on a missing Deployment) through the run.
func TestRolloutGuardWatchesTheRollout(t *testing.T) {
	cs := fakeTarget(t)
	f := &stubFault{effective: true}
	d := rolloutStub(t)
	d.Spec.Guard = &drills.Guard{DefaultRules: ptr.To(false), MaxHold: ptr.To(0.0),
		Kubernetes: &drills.KubernetesSignals{CrashLoop: true, ImagePull: true},
		Strategies: []drills.Strategy{{Name: drills.StrategyHuman}}}
	res, err := runner.New(cs, runner.WithDynamic(fakeRollout()), runner.WithBackends(stubRunnerBackends(cs, f)),
		runner.WithTick(200*time.Millisecond), runner.WithMinObserve(2*time.Second)).Run(context.Background(), d)
	require.NoError(t, err)
	var kube *drills.SignalCoverage
	for i := range res.GuardCoverage {
		if res.GuardCoverage[i].Unit == "kubernetes" {
			kube = &res.GuardCoverage[i]
		}
	}
	require.NotNil(t, kube, "the Kubernetes signals guarded the Rollout: %+v", res.GuardCoverage)
	fault := kube.Phase(drills.CoverageFault)
	require.Positive(t, fault.Evaluations)
	require.Zero(t, fault.Held, "%+v", fault.HoldReasons)
	require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
}

// TestRolloutTeardownLeavesOthersChanges: a pipeline rolls a newer image
// out on the Rollout while the drill's fault is in. Teardown leaves the
// template as found, says so, and still puts back spec.paused, which holds
// the drill's value.
func TestRolloutTeardownLeavesOthersChanges(t *testing.T) {
	cs := fakeTarget(t)
	dyn := fakeRollout()
	ri := dyn.Resource(rolloutsGVR).Namespace("shop")
	update := func(fn func(ro *unstructured.Unstructured)) {
		ro, err := ri.Get(context.Background(), "web", metav1.GetOptions{})
		require.NoError(t, err)
		fn(ro)
		_, err = ri.Update(context.Background(), ro, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	setImage := func(img string) func(ro *unstructured.Unstructured) {
		return func(ro *unstructured.Unstructured) {
			ctrs, _, _ := unstructured.NestedSlice(ro.Object, "spec", "template", "spec", "containers")
			ctrs[1].(map[string]any)["image"] = img
			require.NoError(t, unstructured.SetNestedSlice(ro.Object, ctrs, "spec", "template", "spec", "containers"))
		}
	}
	f := &stubFault{effective: true}
	f.onInject = func() {
		update(func(ro *unstructured.Unstructured) {
			setImage("web:v2-bad")(ro)
			require.NoError(t, unstructured.SetNestedField(ro.Object, true, "spec", "paused"))
		})
	}
	f.onStatus = func() { update(setImage("web:v3")) } // someone else
	res, err := stubRunner(cs, f, runner.WithDynamic(dyn)).Run(context.Background(), rolloutStub(t))
	require.NoError(t, err)
	require.Positive(t, f.removals())

	ro, err := ri.Get(context.Background(), "web", metav1.GetOptions{})
	require.NoError(t, err)
	ctrs, _, _ := unstructured.NestedSlice(ro.Object, "spec", "template", "spec", "containers")
	require.Equal(t, "web:v3", ctrs[1].(map[string]any)["image"], "the pipeline's image stays")
	paused, _, _ := unstructured.NestedBool(ro.Object, "spec", "paused")
	require.False(t, paused, "the drill's pause is undone")
	var left []string
	for _, e := range res.Events {
		if strings.Contains(e.Message, "as found") {
			left = append(left, e.Message)
		}
	}
	require.Equal(t, []string{"teardown left Rollout shop/web as found: the pod template (changed during the drill by someone else)"}, left)
}
