package workload

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/util/retry"

	"github.com/firedrill/firedrill/drills"
)

// RolloutGVR is the resource of Argo Rollouts' Rollout (argoproj.io/v1alpha1).
var RolloutGVR = schema.GroupVersionResource{Group: "argoproj.io", Version: "v1alpha1", Resource: "rollouts"}

const (
	// rolloutRevision is the revision Argo Rollouts writes on a Rollout
	// and its ReplicaSets.
	rolloutRevision = "rollout.argoproj.io/revision"
	// RolloutHashLabel is the pod-template-hash label of a Rollout's
	// ReplicaSets and pods.
	RolloutHashLabel = "rollouts-pod-template-hash"
)

// rollouts is Interface for Argo Rollouts, through the dynamic client.
type rollouts struct{ dyn dynamic.Interface }

func (r *rollouts) Kind() drills.TargetKind { return drills.TargetRollout }

func (r *rollouts) get(ctx context.Context, ns, name string) (*unstructured.Unstructured, error) {
	ro, err := r.dyn.Resource(RolloutGVR).Namespace(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("rollout %s/%s: %w", ns, name, err)
	}
	return ro, nil
}

func (r *rollouts) Get(ctx context.Context, ns, name string) (*Workload, error) {
	ro, err := r.get(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	return FromRollout(ro)
}

func (r *rollouts) List(ctx context.Context, ns string) ([]*Workload, error) {
	list, err := r.dyn.Resource(RolloutGVR).Namespace(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("rollouts: %w", err)
	}
	out := make([]*Workload, 0, len(list.Items))
	for i := range list.Items {
		if _, ref, _ := unstructured.NestedMap(list.Items[i].Object, "spec", "workloadRef"); ref {
			continue // its template is another object's; firedrill never wrote to it
		}
		w, err := FromRollout(&list.Items[i])
		if err != nil {
			return nil, err
		}
		out = append(out, w)
	}
	return out, nil
}

// Patch applies the strategic-merge patch on the client side: a CRD takes
// no strategic-merge patches, but a Rollout's metadata and spec.template
// have a Deployment's schema, so the patch is merged with that schema
// (containers and env by name, $patch directives) and the result written
// with an Update, which fails on a concurrent change and is retried.
func (r *rollouts) Patch(ctx context.Context, ns, name string, patch []byte) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		ro, err := r.get(ctx, ns, name)
		if err != nil {
			return err
		}
		orig, err := json.Marshal(ro.Object)
		if err != nil {
			return err
		}
		merged, err := strategicpatch.StrategicMergePatch(orig, patch, &appsv1.Deployment{})
		if err != nil {
			return fmt.Errorf("merging the patch: %w", err)
		}
		out := &unstructured.Unstructured{}
		if err := out.UnmarshalJSON(merged); err != nil {
			return fmt.Errorf("merging the patch: %w", err)
		}
		_, err = r.dyn.Resource(RolloutGVR).Namespace(ns).Update(ctx, out, metav1.UpdateOptions{FieldManager: FieldManager})
		return err
	})
	if err != nil {
		return fmt.Errorf("patch rollout %s/%s: %w", ns, name, err)
	}
	return nil
}

// Mutate writes back only the fields fn changed.
func (r *rollouts) Mutate(ctx context.Context, ns, name string, fn func(*Workload) bool) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changed = false
		ro, err := r.get(ctx, ns, name)
		if err != nil {
			return err
		}
		before, err := FromRollout(ro)
		if err != nil {
			return err
		}
		w, _ := FromRollout(ro)
		if !fn(w) {
			return nil
		}
		if !equality.Semantic.DeepEqual(before.Annotations, w.Annotations) {
			ro.SetAnnotations(w.Annotations)
		}
		if !equality.Semantic.DeepEqual(before.Template, w.Template) {
			t, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&w.Template)
			if err != nil {
				return fmt.Errorf("spec.template: %w", err)
			}
			if err := unstructured.SetNestedMap(ro.Object, t, "spec", "template"); err != nil {
				return err
			}
		}
		if !equality.Semantic.DeepEqual(before.Replicas, w.Replicas) {
			if w.Replicas == nil {
				unstructured.RemoveNestedField(ro.Object, "spec", "replicas")
			} else if err := unstructured.SetNestedField(ro.Object, int64(*w.Replicas), "spec", "replicas"); err != nil {
				return err
			}
		}
		if before.Paused != w.Paused {
			if err := unstructured.SetNestedField(ro.Object, w.Paused, "spec", "paused"); err != nil {
				return err
			}
		}
		_, err = r.dyn.Resource(RolloutGVR).Namespace(ns).Update(ctx, ro, metav1.UpdateOptions{FieldManager: FieldManager})
		changed = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("update rollout %s/%s: %w", ns, name, err)
	}
	return changed, nil
}

// FromRollout is the workload view of an Argo Rollout. A Rollout that
// takes its template from a workloadRef is refused: the drill would have
// to change the referenced workload instead.
func FromRollout(ro *unstructured.Unstructured) (*Workload, error) {
	w := &Workload{
		Kind:        drills.TargetRollout,
		Namespace:   ro.GetNamespace(),
		Name:        ro.GetName(),
		UID:         ro.GetUID(),
		Annotations: ro.GetAnnotations(),
		Revision:    ro.GetAnnotations()[rolloutRevision],
		HashLabel:   RolloutHashLabel,
		Selector:    &metav1.LabelSelector{},
		Object:      ro.DeepCopy(),
	}
	if ref, found, _ := unstructured.NestedMap(ro.Object, "spec", "workloadRef"); found && ref != nil {
		return nil, fmt.Errorf("%s takes its pod template from a workloadRef, which firedrill does not drill yet", w)
	}
	raw, found, err := unstructured.NestedMap(ro.Object, "spec", "template")
	if err != nil || !found {
		return nil, fmt.Errorf("%s has no spec.template", w)
	}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, &w.Template); err != nil {
		return nil, fmt.Errorf("%s: spec.template: %w", w, err)
	}
	if raw, found, _ := unstructured.NestedMap(ro.Object, "spec", "selector"); found {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, w.Selector); err != nil {
			return nil, fmt.Errorf("%s: spec.selector: %w", w, err)
		}
	}
	if n, found, _ := unstructured.NestedInt64(ro.Object, "spec", "replicas"); found {
		v := int32(n)
		w.Replicas = &v
	}
	w.Paused, _, _ = unstructured.NestedBool(ro.Object, "spec", "paused")
	w.Status, w.Healthy = rolloutHealth(ro)
	return w, nil
}

// rolloutHealth: the controller has observed the latest spec, the current
// pod hash is the stable one and the Rollout reports itself Healthy (every
// replica of the stable template updated and available), as the engine's
// revert waits for.
func rolloutHealth(ro *unstructured.Unstructured) (string, bool) {
	observed := nestedString(ro.Object, "status", "observedGeneration")
	current := nestedString(ro.Object, "status", "currentPodHash")
	stable := nestedString(ro.Object, "status", "stableRS")
	phase := nestedString(ro.Object, "status", "phase")
	msg := nestedString(ro.Object, "status", "message")
	switch {
	case observed != strconv.FormatInt(ro.GetGeneration(), 10):
		return "waiting for the Rollout's spec update to be observed", false
	case current == "" || current != stable:
		return fmt.Sprintf("waiting for the Rollout's current pods (%s) to become stable (%s)", current, stable), false
	case phase != "Healthy":
		if msg != "" {
			return fmt.Sprintf("Rollout is %s: %s", phase, msg), false
		}
		return fmt.Sprintf("Rollout is %s", phase), false
	}
	return "Rollout is Healthy on replica set hash " + stable, true
}

// nestedString reads a string or an integer field as a string (Argo
// writes status.observedGeneration as a string).
func nestedString(obj map[string]any, fields ...string) string {
	v, found, err := unstructured.NestedFieldNoCopy(obj, fields...)
	if err != nil || !found {
		return ""
	}
	switch v := v.(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatInt(int64(v), 10)
	}
	return fmt.Sprint(v)
}
