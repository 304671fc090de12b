package chaosmesh

import (
	"fmt"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/firedrill/firedrill/drills"
)

// DefaultHistoryLimit is a Schedule's history limit when the drill sets
// none (as drills' default).
const DefaultHistoryLimit = 10

// NewSchedule wraps a built PodChaos or NetworkChaos in a Chaos Mesh
// Schedule that creates it on the cron schedule (five fields, or
// descriptors such as @weekly). The Schedule takes obj's name, namespace,
// labels and annotations. concurrency Replace has no Chaos Mesh equivalent
// and is an error; empty means Forbid. The result passes Chaos Mesh's own
// Schedule validation.
func NewSchedule(obj client.Object, cron string, concurrency drills.ConcurrencyPolicy, historyLimit *int) (*v1alpha1.Schedule, error) {
	s := &v1alpha1.Schedule{TypeMeta: typeMeta(v1alpha1.KindSchedule)}
	s.Name = obj.GetName()
	s.Namespace = obj.GetNamespace()
	s.Labels = obj.GetLabels()
	s.Annotations = obj.GetAnnotations()
	s.Spec.Schedule = cron
	switch concurrency {
	case "", drills.ConcurrencyForbid:
		s.Spec.ConcurrencyPolicy = v1alpha1.ForbidConcurrent
	case drills.ConcurrencyAllow:
		s.Spec.ConcurrencyPolicy = v1alpha1.AllowConcurrent
	default:
		return nil, fmt.Errorf("chaosmesh: schedule %s: %w: concurrency policy %q has no Chaos Mesh equivalent (want Forbid or Allow)", s.Name, ErrInvalid, concurrency)
	}
	s.Spec.HistoryLimit = DefaultHistoryLimit
	if historyLimit != nil {
		if *historyLimit < 1 {
			return nil, fmt.Errorf("chaosmesh: schedule %s: %w: history limit %d: want at least 1", s.Name, ErrInvalid, *historyLimit)
		}
		s.Spec.HistoryLimit = *historyLimit
	}
	switch o := obj.(type) {
	case *v1alpha1.PodChaos:
		s.Spec.Type = v1alpha1.ScheduleTypePodChaos
		spec := o.Spec
		s.Spec.PodChaos = &spec
	case *v1alpha1.NetworkChaos:
		s.Spec.Type = v1alpha1.ScheduleTypeNetworkChaos
		spec := o.Spec
		s.Spec.NetworkChaos = &spec
	default:
		return nil, fmt.Errorf("chaosmesh: schedule %s: %w: cannot schedule a %T", s.Name, ErrInvalid, obj)
	}
	if _, err := s.Validate(s); err != nil {
		return nil, fmt.Errorf("chaosmesh: schedule %s: %w: rejected by Chaos Mesh's validation: %v", s.Name, ErrInvalid, err)
	}
	return s, nil
}

// ScheduleDrill builds the Schedule of fault i of a scheduled drill: the
// drill's cron, concurrency policy and history limit around that fault's
// object (selected with sel).
func ScheduleDrill(d *drills.Drill, i int, sel Selection, meta Meta) (*v1alpha1.Schedule, error) {
	if d.Spec.Schedule == "" {
		return nil, fmt.Errorf("chaosmesh: drill %s: %w: no schedule", d.Metadata.Name, ErrInvalid)
	}
	if i < 0 || i >= len(d.Spec.Faults) {
		return nil, fmt.Errorf("chaosmesh: drill %s: no fault %d", d.Metadata.Name, i)
	}
	spec := d.Spec.Faults[i]
	if spec.Name == "" {
		spec.Name = d.Metadata.Name
	}
	obj, err := Build(spec, d.Spec.Target, sel, meta)
	if err != nil {
		return nil, err
	}
	return NewSchedule(obj, d.Spec.Schedule, d.Spec.ConcurrencyPolicy, d.Spec.HistoryLimit)
}
