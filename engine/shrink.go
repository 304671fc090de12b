package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
	"k8s.io/utils/clock"

	"github.com/firedrill/firedrill/drills"
)

// Shrink takes the faulty ReplicaSet out progressively: it labels the
// ReplicaSet's pods with the quarantine label (so a Service selector that
// excludes the label drops them), then scales the ReplicaSet's owner (its
// Deployment, or the ReplicaSet itself when it has none) down by Step
// replicas every Interval, until Percent of the replicas are gone (the
// decision's partialPercent for a partial rollback, all for a rollback).
//
// The first scaling step writes AnnotationShrink with the original and
// goal replicas in the same patch, so a retry after a crash resumes towards
// the same goal instead of shrinking the already shrunk workload again.
type Shrink struct {
	client     kubernetes.Interface
	step       int32
	interval   time.Duration
	labelKey   string
	labelValue string
	clock      clock.Clock
}

// NewShrink builds the shrink strategy; s may be nil (the defaults).
func NewShrink(client kubernetes.Interface, s *drills.ShrinkSettings) (*Shrink, error) {
	sh := &Shrink{client: client, step: 1, interval: drills.DefaultShrinkInterval, clock: clock.RealClock{}}
	label := drills.DefaultQuarantineLabel
	if s != nil {
		if s.Step > 0 {
			sh.step = int32(s.Step)
		}
		sh.interval = s.Interval.Get(sh.interval)
		if s.QuarantineLabel != "" {
			label = s.QuarantineLabel
		}
	}
	k, v, ok := strings.Cut(label, "=")
	if !ok || k == "" {
		return nil, fmt.Errorf("shrink: invalid quarantine label %q: want key=value", label)
	}
	sh.labelKey, sh.labelValue = k, v
	return sh, nil
}

// Name implements Strategy.
func (*Shrink) Name() drills.StrategyName { return drills.StrategyShrink }

// ActsPartially implements PartialActor: a partial rollback shrinks the
// faulty revision by the decision's percentage.
func (*Shrink) ActsPartially() bool { return true }

// shrinkRecord is the value of AnnotationShrink.
type shrinkRecord struct {
	From     int32  `json:"from"`
	Goal     int32  `json:"goal"`
	Incident string `json:"incident,omitempty"`
}

// Act implements Strategy.
func (s *Shrink) Act(ctx context.Context, t Target, d Decision) (Outcome, error) {
	return logged(ctx, t, func() (Outcome, error) { return s.act(ctx, t, d) })
}

func (s *Shrink) act(ctx context.Context, t Target, d Decision) (Outcome, error) {
	out := Outcome{Strategy: drills.StrategyShrink}
	rs, err := s.faultyReplicaSet(ctx, t)
	if err != nil {
		return out, err
	}
	labelled, err := s.quarantine(ctx, rs)
	if err != nil {
		return out, err
	}

	// The object to scale: the owning Deployment, or the ReplicaSet.
	kind, name := "replicaset", rs.Name
	if ref := metav1.GetControllerOf(rs); ref != nil && ref.Kind == "Deployment" {
		kind, name = "deployment", ref.Name
	}
	replicas, annotations, err := s.getScaled(ctx, t.Namespace, kind, name)
	if err != nil {
		return out, err
	}
	var rec shrinkRecord
	if raw, ok := annotations[AnnotationShrink]; !ok || json.Unmarshal([]byte(raw), &rec) != nil || rec.Incident != t.IncidentID || rec.Goal > replicas {
		// No shrink of this incident in progress: start one from here.
		percent := d.Percent
		if percent <= 0 || percent > 100 {
			percent = 100
		}
		remove := (replicas*int32(percent) + 99) / 100
		rec = shrinkRecord{From: replicas, Goal: replicas - remove, Incident: t.IncidentID}
	}
	out.FromVersion, out.ToVersion = fmt.Sprintf("%d replicas", rec.From), fmt.Sprintf("%d replicas", rec.Goal)
	if replicas <= rec.Goal && labelled == 0 {
		out.AlreadyDone = true
		out.Message = fmt.Sprintf("already done: %s %s/%s shrunk from %d to %d replicas, pods of %s quarantined", kind, t.Namespace, name, rec.From, rec.Goal, rs.Name)
		return out, nil
	}
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return out, fmt.Errorf("shrink: %w", err)
	}
	for replicas > rec.Goal {
		next := max(rec.Goal, replicas-s.step)
		patch, err := json.Marshal(map[string]any{
			"metadata": map[string]any{"annotations": map[string]string{AnnotationShrink: string(recJSON)}},
			"spec":     map[string]any{"replicas": next},
		})
		if err != nil {
			return out, fmt.Errorf("shrink: %w", err)
		}
		if err := s.patchScaled(ctx, t.Namespace, kind, name, patch); err != nil {
			return out, fmt.Errorf("shrink: scale %s %s/%s to %d: %w", kind, t.Namespace, name, next, err)
		}
		replicas = next
		if replicas > rec.Goal {
			select {
			case <-ctx.Done():
				return out, fmt.Errorf("shrink: %s %s/%s at %d of goal %d replicas: %w", kind, t.Namespace, name, replicas, rec.Goal, ctx.Err())
			case <-s.clock.After(s.interval):
			}
		}
	}
	out.Message = fmt.Sprintf("quarantined %d pod(s) of %s; shrank %s %s/%s from %d to %d replicas", labelled, rs.Name, kind, t.Namespace, name, rec.From, rec.Goal)
	return out, nil
}

// faultyReplicaSet is the target's ReplicaSet, or the Deployment's newest.
func (s *Shrink) faultyReplicaSet(ctx context.Context, t Target) (*appsv1.ReplicaSet, error) {
	if t.ReplicaSet != "" {
		rs, err := s.client.AppsV1().ReplicaSets(t.Namespace).Get(ctx, t.ReplicaSet, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("shrink: get replica set %s/%s: %w", t.Namespace, t.ReplicaSet, err)
		}
		return rs, nil
	}
	dep, err := s.client.AppsV1().Deployments(t.Namespace).Get(ctx, t.Deployment, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("shrink: get deployment %s/%s: %w", t.Namespace, t.Deployment, err)
	}
	_, _, newRS, err := deploymentutil.GetAllReplicaSets(dep, s.client.AppsV1())
	if err != nil {
		return nil, fmt.Errorf("shrink: replica sets of deployment %s/%s: %w", t.Namespace, t.Deployment, err)
	}
	if newRS == nil {
		return nil, fmt.Errorf("shrink: deployment %s/%s has no replica set for its current template: %w", t.Namespace, t.Deployment, ErrRefused)
	}
	return newRS, nil
}

// quarantine labels the ReplicaSet's pods; it returns how many it changed.
func (s *Shrink) quarantine(ctx context.Context, rs *appsv1.ReplicaSet) (int, error) {
	sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		return 0, fmt.Errorf("shrink: selector of replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	pods := s.client.CoreV1().Pods(rs.Namespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return 0, fmt.Errorf("shrink: pods of replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"labels": map[string]string{s.labelKey: s.labelValue}}})
	if err != nil {
		return 0, fmt.Errorf("shrink: %w", err)
	}
	n := 0
	for i := range list.Items {
		p := &list.Items[i]
		if ref := metav1.GetControllerOf(p); ref == nil || ref.UID != rs.UID || p.Labels[s.labelKey] == s.labelValue {
			continue
		}
		if _, err := pods.Patch(ctx, p.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return n, fmt.Errorf("shrink: quarantine pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		n++
	}
	return n, nil
}

func (s *Shrink) getScaled(ctx context.Context, ns, kind, name string) (int32, map[string]string, error) {
	var (
		replicas    *int32
		annotations map[string]string
	)
	if kind == "deployment" {
		d, err := s.client.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return 0, nil, fmt.Errorf("shrink: get deployment %s/%s: %w", ns, name, err)
		}
		replicas, annotations = d.Spec.Replicas, d.Annotations
	} else {
		rs, err := s.client.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return 0, nil, fmt.Errorf("shrink: get replica set %s/%s: %w", ns, name, err)
		}
		replicas, annotations = rs.Spec.Replicas, rs.Annotations
	}
	if replicas == nil {
		return 1, annotations, nil // the API default
	}
	return *replicas, annotations, nil
}

func (s *Shrink) patchScaled(ctx context.Context, ns, kind, name string, patch []byte) error {
	var err error
	if kind == "deployment" {
		_, err = s.client.AppsV1().Deployments(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	} else {
		_, err = s.client.AppsV1().ReplicaSets(ns).Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{})
	}
	return err
}
