package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/firedrill/firedrill/drills"
)

// Argo Rollouts names the engine uses (argoproj.io/v1alpha1).
var rolloutGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

const (
	// rolloutRevisionAnnotation is the revision Argo Rollouts writes on a
	// Rollout's ReplicaSets.
	rolloutRevisionAnnotation = "rollout.argoproj.io/revision"
	// rolloutHashLabel is the pod-template-hash label of a Rollout's
	// ReplicaSets and pods.
	rolloutHashLabel = "rollouts-pod-template-hash"
)

// revertRollout reverts an Argo Rollout as `kubectl argo rollouts abort`
// followed by `kubectl argo rollouts undo [--to-revision]` do: the abort
// sends the traffic back to the stable ReplicaSet at once, the undo copies
// the previous revision's pod template back into the Rollout so that the
// Rollout stays there. The rollback record is written by the undo's patch,
// so a retry after a crash never undoes twice.
func (r *Revert) revertRollout(ctx context.Context, t Target) (Outcome, error) {
	out := Outcome{Strategy: drills.StrategyRevert}
	if r.dyn == nil {
		return out, fmt.Errorf("revert: %s/%s is an Argo Rollout and the engine has no dynamic client: %w", t.Namespace, t.Deployment, ErrRefused)
	}
	if r.toRevision < drills.RevisionPrevious {
		return out, fmt.Errorf("revert: unable to find specified revision %d in history: %w", int64(r.toRevision), ErrRefused)
	}
	ri := r.dyn.Resource(rolloutGVR).Namespace(t.Namespace)
	ro, err := ri.Get(ctx, t.Deployment, metav1.GetOptions{})
	if err != nil {
		if apierrors.IsNotFound(err) {
			return out, fmt.Errorf("revert: no Rollout %s/%s (are the Argo Rollouts CRDs installed?): %w", t.Namespace, t.Deployment, err)
		}
		return out, fmt.Errorf("revert: get Rollout %s/%s: %w", t.Namespace, t.Deployment, err)
	}
	if ref, found, _ := unstructured.NestedMap(ro.Object, "spec", "workloadRef"); found && ref != nil {
		return out, fmt.Errorf("revert: Rollout %s/%s takes its template from a workloadRef; revert the referenced workload instead: %w", t.Namespace, t.Deployment, ErrRefused)
	}
	all, err := r.rolloutReplicaSets(ctx, ro)
	if err != nil {
		return out, fmt.Errorf("revert: replica sets of Rollout %s/%s: %w", t.Namespace, t.Deployment, err)
	}
	tmpl, err := rolloutTemplate(ro)
	if err != nil {
		return out, fmt.Errorf("revert: Rollout %s/%s: %w", t.Namespace, t.Deployment, err)
	}
	fromRev, _ := rolloutRevision(ro)

	if done, ok := alreadyRolledBack(ro.GetAnnotations(), all, tmpl, rolloutHashLabel,
		fmt.Sprintf("Rollout %s/%s", t.Namespace, t.Deployment)); ok {
		return done, nil
	}
	target, err := previousReplicaSet(ro.GetName(), all, r.toRevision.Number(), rolloutRevision)
	if err != nil {
		return out, fmt.Errorf("revert: Rollout %s/%s: %w", t.Namespace, t.Deployment, err)
	}
	toRev, _ := rolloutRevision(target)
	out.FromVersion, out.ToVersion = strconv.FormatInt(fromRev, 10), strconv.FormatInt(toRev, 10)
	if equalIgnoringLabel(&target.Spec.Template, tmpl, rolloutHashLabel) {
		out.AlreadyDone = true
		out.Message = fmt.Sprintf("already done: skipped rollback (current template already matches revision %d)", toRev)
		return out, nil
	}

	// Abort first: the stable ReplicaSet takes the traffic back now. Like
	// the plugin, patch the status subresource, or the object when the
	// CRD has no status subresource.
	// The undo below tests the resourceVersion the abort left.
	abort := []byte(`{"status":{"abort":true}}`)
	aborted, err := ri.Patch(ctx, ro.GetName(), types.MergePatchType, abort, metav1.PatchOptions{}, "status")
	if apierrors.IsNotFound(err) {
		aborted, err = ri.Patch(ctx, ro.GetName(), types.MergePatchType, abort, metav1.PatchOptions{})
	}
	if err != nil {
		return out, fmt.Errorf("revert: abort Rollout %s/%s: %w", t.Namespace, t.Deployment, err)
	}
	ro = aborted

	// Undo: the previous revision's template, without its hash label.
	back := target.Spec.Template.DeepCopy()
	delete(back.Labels, rolloutHashLabel)
	rec := rollbackRecord{FromRevision: fromRev, ToRevision: toRev, ToReplicaSet: target.Name, Incident: t.IncidentID}
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return out, fmt.Errorf("revert: %w", err)
	}
	annotations := maps.Clone(ro.GetAnnotations())
	if annotations == nil {
		annotations = map[string]string{}
	}
	annotations[AnnotationRollbackOf] = string(recJSON)
	var ops []map[string]any
	if rv := ro.GetResourceVersion(); rv != "" {
		// Fail rather than patch a Rollout that changed since the abort.
		ops = append(ops, map[string]any{"op": "test", "path": "/metadata/resourceVersion", "value": rv})
	}
	ops = append(ops,
		map[string]any{"op": "replace", "path": "/spec/template", "value": back},
		map[string]any{"op": "add", "path": "/metadata/annotations", "value": annotations})
	patch, err := json.Marshal(ops)
	if err != nil {
		return out, fmt.Errorf("revert: %w", err)
	}
	if _, err := ri.Patch(ctx, ro.GetName(), types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return out, fmt.Errorf("revert: restore revision %d of Rollout %s/%s: %w", toRev, t.Namespace, t.Deployment, err)
	}
	out.Restored = target.Spec.Template.DeepCopy()
	out.Message = fmt.Sprintf("aborted Rollout %s/%s and rolled it back from revision %d to revision %d (replica set %s)",
		t.Namespace, t.Deployment, fromRev, toRev, target.Name)
	return out, nil
}

// rolloutReplicaSets are the ReplicaSets the Rollout controls.
func (r *Revert) rolloutReplicaSets(ctx context.Context, ro *unstructured.Unstructured) ([]*appsv1.ReplicaSet, error) {
	s, err := rolloutSelector(ro)
	if err != nil {
		return nil, err
	}
	list, err := r.client.AppsV1().ReplicaSets(ro.GetNamespace()).List(ctx, metav1.ListOptions{LabelSelector: s.String()})
	if err != nil {
		return nil, err
	}
	var owned []*appsv1.ReplicaSet
	for i := range list.Items {
		if metav1.IsControlledBy(&list.Items[i], ro) {
			owned = append(owned, &list.Items[i])
		}
	}
	return owned, nil
}

// rolloutTemplate is the Rollout's pod template.
func rolloutTemplate(ro *unstructured.Unstructured) (*corev1.PodTemplateSpec, error) {
	raw, found, err := unstructured.NestedMap(ro.Object, "spec", "template")
	if err != nil || !found {
		return nil, fmt.Errorf("no spec.template")
	}
	var t corev1.PodTemplateSpec
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &t); err != nil {
		return nil, fmt.Errorf("spec.template: %w", err)
	}
	return &t, nil
}

// rolloutRevision reads Argo Rollouts' revision annotation (0 if unset).
var rolloutRevision = annotationRevision(rolloutRevisionAnnotation)

// waitRollout waits until the Argo Rollout runs the reverted ReplicaSet as
// its stable one and reports itself Healthy, or timeout passes.
func (r *Revert) waitRollout(ctx context.Context, t Target) (string, error) {
	ri := r.dyn.Resource(rolloutGVR).Namespace(t.Namespace)
	var last string
	err := wait.PollUntilContextTimeout(ctx, r.pollInterval, r.timeout, true, func(ctx context.Context) (bool, error) {
		ro, err := ri.Get(ctx, t.Deployment, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("get Rollout %s/%s: %w", t.Namespace, t.Deployment, err)
		}
		var done bool
		last, done = rolloutSettled(ro)
		return done, nil
	})
	if err != nil {
		return last, fmt.Errorf("rollout of Rollout %s/%s did not settle within %s (%s): %w", t.Namespace, t.Deployment, r.timeout, last, err)
	}
	return last, nil
}

// rolloutSettled tells whether a Rollout's controller has observed its
// latest spec and its current pod hash is the stable one and Healthy.
func rolloutSettled(ro *unstructured.Unstructured) (string, bool) {
	observed, _, _ := unstructured.NestedString(ro.Object, "status", "observedGeneration")
	current, _, _ := unstructured.NestedString(ro.Object, "status", "currentPodHash")
	stable, _, _ := unstructured.NestedString(ro.Object, "status", "stableRS")
	phase, _, _ := unstructured.NestedString(ro.Object, "status", "phase")
	if observed != strconv.FormatInt(ro.GetGeneration(), 10) {
		return "waiting for the Rollout's spec update to be observed", false
	}
	if current == "" || current != stable {
		return fmt.Sprintf("waiting for the Rollout's current pods (%s) to become stable (%s)", current, stable), false
	}
	if phase != "Healthy" {
		return fmt.Sprintf("Rollout %s is %s", ro.GetName(), phase), false
	}
	return fmt.Sprintf("Rollout %q is Healthy on replica set hash %s", ro.GetName(), stable), true
}
