package chaosmesh

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/scenarios"
)

// sweepKinds are the kinds Sweep looks at: the ones firedrill creates.
var sweepKinds = append([]string{v1alpha1.KindSchedule}, drills.ChaosMeshKinds...)

// Sweep deletes the Chaos Mesh objects firedrill made (label
// LabelManagedBy=firedrill) that a crashed run left behind: with owner
// set, every object of that owner (scenarios.AnnotationOwner); else those
// whose expiry (scenarios.AnnotationExpires) is before now or unreadable.
// namespace "" sweeps all namespaces. Kinds whose CRD is not installed are
// skipped. It returns what it deleted; the Chaos Mesh controller recovers
// the targets before the objects disappear.
func Sweep(ctx context.Context, c client.Client, namespace, owner string, now time.Time) ([]string, error) {
	all := v1alpha1.AllKindsIncludeScheduleAndWorkflow()
	var done []string
	var errs []error
	for _, name := range sweepKinds {
		kind, ok := all[name]
		if !ok {
			continue
		}
		list := kind.SpawnList()
		opts := []client.ListOption{client.MatchingLabels{LabelManagedBy: ManagedBy}}
		if namespace != "" {
			opts = append(opts, client.InNamespace(namespace))
		}
		if err := c.List(ctx, list, opts...); err != nil {
			if meta.IsNoMatchError(err) || apierrors.IsNotFound(err) {
				continue
			}
			errs = append(errs, fmt.Errorf("chaosmesh: sweep: list %s: %w", name, err))
			continue
		}
		items, err := meta.ExtractList(list)
		if err != nil {
			errs = append(errs, fmt.Errorf("chaosmesh: sweep: %s: %w", name, err))
			continue
		}
		for _, it := range items {
			obj, ok := it.(client.Object)
			if !ok || !due(obj.GetAnnotations(), owner, now) {
				continue
			}
			if err := c.Delete(ctx, obj); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("chaosmesh: sweep: delete %s %s/%s: %w", name, obj.GetNamespace(), obj.GetName(), err))
				continue
			}
			done = append(done, fmt.Sprintf("%s %s/%s deleted (owner %s)", name, obj.GetNamespace(), obj.GetName(), obj.GetAnnotations()[scenarios.AnnotationOwner]))
		}
	}
	return done, errors.Join(errs...)
}

func due(ann map[string]string, owner string, now time.Time) bool {
	got, ok := ann[scenarios.AnnotationOwner]
	if !ok {
		return false
	}
	if owner != "" {
		return got == owner
	}
	exp, err := time.Parse(time.RFC3339, ann[scenarios.AnnotationExpires])
	return err != nil || !now.Before(exp)
}
