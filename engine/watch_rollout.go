package engine

import (
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/firedrill/firedrill/drills"
)

// rolloutTimedOutReason is the reason of an Argo Rollout's Progressing
// condition once its progress deadline is exceeded.
const rolloutTimedOutReason = "ProgressDeadlineExceeded"

// rolloutSnapshot is Snapshot for an Argo Rollout: its ReplicaSets are
// those it controls, New the one of status.currentPodHash (the pod
// template Argo works towards: the canary during a canary step) and
// Previous its stable one (status.stableRS).
func (w *Watch) rolloutSnapshot() (*Snapshot, error) {
	obj, err := w.rollouts.ByNamespace(w.namespace).Get(w.name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("watch: Rollout %s/%s not found: %w", w.namespace, w.name, err)
		}
		return nil, fmt.Errorf("watch: Rollout %s/%s: %w", w.namespace, w.name, err)
	}
	ro, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return nil, fmt.Errorf("watch: Rollout %s/%s: unexpected %T", w.namespace, w.name, obj)
	}
	snap := &Snapshot{Kind: drills.TargetRollout, Rollout: ro, HashLabel: rolloutHashLabel}
	snap.Revision, _ = rolloutRevision(ro)
	sel, err := rolloutSelector(ro)
	if err != nil {
		return nil, fmt.Errorf("watch: Rollout %s/%s: %w", w.namespace, w.name, err)
	}
	rss, err := w.replicaSets.ReplicaSets(w.namespace).List(sel)
	if err != nil {
		return nil, fmt.Errorf("watch: replica sets of %s/%s: %w", w.namespace, w.name, err)
	}
	var owned []*appsv1.ReplicaSet
	for _, rs := range rss {
		if metav1.IsControlledBy(rs, ro) {
			owned = append(owned, rs)
		}
	}
	rev := func(rs *appsv1.ReplicaSet) int64 { v, _ := rolloutRevision(rs); return v }
	sort.Slice(owned, func(i, j int) bool { return rev(owned[i]) > rev(owned[j]) })
	byHash := func(hash string) *appsv1.ReplicaSet {
		for _, rs := range owned {
			if hash != "" && rs.Labels[rolloutHashLabel] == hash {
				return rs
			}
		}
		return nil
	}
	current := nestedString(ro.Object, "status", "currentPodHash")
	stable := nestedString(ro.Object, "status", "stableRS")
	snap.New = byHash(current)
	if snap.New == nil {
		// No status yet (or not this ReplicaSet's): the template's.
		// Argo's ReplicaSets carry the Rollout's template as the API
		// server defaulted it, so this matches only an undone template.
		if tmpl, err := rolloutTemplate(ro); err == nil {
			for _, rs := range owned {
				if equalIgnoringLabel(&rs.Spec.Template, tmpl, rolloutHashLabel) {
					snap.New = rs
					break
				}
			}
		}
	}
	if s := byHash(stable); s != nil && s != snap.New {
		snap.Previous = s
	} else {
		for _, rs := range owned {
			if rs != snap.New && (snap.New == nil || rev(rs) < rev(snap.New)) {
				snap.Previous = rs
				break
			}
		}
	}
	snap.Replicas = 1 // Argo's default
	if n, found, _ := unstructured.NestedInt64(ro.Object, "spec", "replicas"); found {
		snap.Replicas = int32(n)
	}
	if n, found, _ := unstructured.NestedInt64(ro.Object, "status", "readyReplicas"); found {
		snap.ReadyReplicas = int32(n)
	}
	conds, _, _ := unstructured.NestedSlice(ro.Object, "status", "conditions")
	for _, c := range conds {
		if m, ok := c.(map[string]any); ok && m["type"] == "Progressing" && m["reason"] == rolloutTimedOutReason {
			snap.Stalled = true
		}
	}
	_, settled := rolloutSettled(ro)
	snap.InProgress = !settled && !snap.Stalled
	return snap, w.podsOf(snap, sel)
}

// rolloutSelector is the Rollout's spec.selector (everything when unset).
func rolloutSelector(ro *unstructured.Unstructured) (labels.Selector, error) {
	sel := &metav1.LabelSelector{}
	if raw, found, _ := unstructured.NestedMap(ro.Object, "spec", "selector"); found {
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(raw, sel); err != nil {
			return nil, fmt.Errorf("spec.selector: %w", err)
		}
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, fmt.Errorf("spec.selector: %w", err)
	}
	return s, nil
}

// nestedString reads a string field of a Rollout ("" when unset or not a
// string).
func nestedString(obj map[string]any, fields ...string) string {
	v, _, _ := unstructured.NestedString(obj, fields...)
	return v
}
