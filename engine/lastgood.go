package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// AnnotationKnownGood marks a ReplicaSet whose revision served within SLO
// (no evidence of an anomaly) for at least the guard's goodAfter; its value
// is the time it was marked (RFC 3339). Revert goes back to the newest
// such revision older than the current one.
const AnnotationKnownGood = "firedrill.dev/known-good"

// goodTracker marks the Deployment's newest ReplicaSet known-good once it
// has served with no evidence for goodAfter. The mark lives on the
// ReplicaSet, so it outlasts the engine. It is not safe for concurrent use.
type goodTracker struct {
	client    kubernetes.Interface
	goodAfter time.Duration

	replicaSet string
	cleanSince time.Time
	marked     bool
}

// observe is called every evaluation with the snapshot and whether the
// evaluation found no evidence; it marks the newest ReplicaSet when it has
// been clean for goodAfter, and reports whether it did.
func (g *goodTracker) observe(ctx context.Context, now time.Time, snap *Snapshot, clean bool) (bool, error) {
	if g == nil || g.client == nil || snap == nil || snap.New == nil {
		return false, nil
	}
	rs := snap.New
	if rs.Name != g.replicaSet {
		_, already := rs.Annotations[AnnotationKnownGood]
		g.replicaSet, g.cleanSince, g.marked = rs.Name, time.Time{}, already
	}
	if !clean {
		g.cleanSince = time.Time{}
		return false, nil
	}
	if g.cleanSince.IsZero() {
		g.cleanSince = now
	}
	if g.marked || now.Sub(g.cleanSince) < g.goodAfter {
		return false, nil
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationKnownGood: now.UTC().Format(time.RFC3339)}}})
	if err != nil {
		return false, fmt.Errorf("last known good: %w", err)
	}
	if _, err := g.client.AppsV1().ReplicaSets(rs.Namespace).Patch(ctx, rs.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		g.cleanSince = now // try again after another goodAfter, not every evaluation
		return false, fmt.Errorf("last known good: mark replica set %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	g.marked = true
	return true, nil
}

// lastKnownGood is the newest ReplicaSet marked known-good whose revision
// is below current, or nil.
func lastKnownGood(all []*appsv1.ReplicaSet, current int64) *appsv1.ReplicaSet {
	var (
		best    *appsv1.ReplicaSet
		bestRev int64 = -1
	)
	for _, rs := range all {
		if _, ok := rs.Annotations[AnnotationKnownGood]; !ok {
			continue
		}
		v, err := strconv.ParseInt(rs.Annotations["deployment.kubernetes.io/revision"], 10, 64)
		if err != nil || v >= current || v <= bestRev {
			continue
		}
		best, bestRev = rs, v
	}
	return best
}
