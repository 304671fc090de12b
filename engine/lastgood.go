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
// (no evidence of an anomaly) for at least the guard's goodAfter. Revert
// goes back to the newest such revision older than the current one.
//
// Its value is a JSON object naming the ReplicaSet it was written on and
// when ({"replicaSet": "payment-6d4f", "at": "2026-12-07T14:00:00Z"}): a
// mark copied elsewhere (revert copies a ReplicaSet's annotations onto the
// Deployment, and the Deployment controller copies the Deployment's onto
// every ReplicaSet it creates) names another ReplicaSet and counts for
// nothing, so a new, unproven revision never inherits its parent's mark.
const AnnotationKnownGood = "firedrill.dev/known-good"

// knownGoodMark is the value of AnnotationKnownGood.
type knownGoodMark struct {
	ReplicaSet string    `json:"replicaSet"`
	At         time.Time `json:"at"`
}

// knownGood reports whether rs carries a known-good mark written on rs
// itself.
func knownGood(rs *appsv1.ReplicaSet) bool {
	raw, ok := rs.Annotations[AnnotationKnownGood]
	if !ok {
		return false
	}
	var m knownGoodMark
	return json.Unmarshal([]byte(raw), &m) == nil && m.ReplicaSet == rs.Name
}

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
		g.replicaSet, g.cleanSince, g.marked = rs.Name, time.Time{}, knownGood(rs)
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
	mark, err := json.Marshal(knownGoodMark{ReplicaSet: rs.Name, At: now.UTC().Truncate(time.Second)})
	if err != nil {
		return false, fmt.Errorf("last known good: %w", err)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		AnnotationKnownGood: string(mark)}}})
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

// lastKnownGood is the newest ReplicaSet marked known-good (a mark written
// on itself) whose revision is below current, or nil.
func lastKnownGood(all []*appsv1.ReplicaSet, current int64) *appsv1.ReplicaSet {
	var (
		best    *appsv1.ReplicaSet
		bestRev int64 = -1
	)
	for _, rs := range all {
		if !knownGood(rs) {
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
