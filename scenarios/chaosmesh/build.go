package chaosmesh

import (
	"context"
	"slices"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/firedrill/firedrill/drills"
)

// Types are the fault types this backend builds objects for.
var Types = []drills.FaultType{
	drills.FaultPodKill, drills.FaultPodFailure, drills.FaultContainerKill,
	drills.FaultNetworkPartition, drills.FaultNetworkLoss, drills.FaultNetworkDelay,
	drills.FaultBandwidth, drills.FaultChaosMesh,
}

// Build returns the Chaos Mesh object for spec: a *v1alpha1.PodChaos, a
// *v1alpha1.NetworkChaos, or for chaos-mesh faults an unstructured object
// of the named kind. target.Container names the container of
// container-kill. The object is checked by firedrill and by Chaos Mesh's
// own webhook validation; errors match ErrInvalid. Build only computes.
func Build(spec drills.Fault, target drills.Target, sel Selection, meta Meta) (client.Object, error) {
	if err := sel.validate(spec); err != nil {
		return nil, err
	}
	if spec.Duration != nil && spec.Duration.Duration < 0 {
		return nil, invalid(spec, "duration %s is negative", spec.Duration.Duration)
	}
	switch spec.Type {
	case drills.FaultPodKill, drills.FaultPodFailure, drills.FaultContainerKill:
		return buildPodChaos(spec, target, sel, meta)
	case drills.FaultNetworkPartition, drills.FaultNetworkLoss, drills.FaultNetworkDelay, drills.FaultBandwidth:
		return buildNetworkChaos(spec, sel, meta)
	case drills.FaultChaosMesh:
		return buildGeneric(spec, sel, meta)
	default:
		return nil, invalid(spec, "unknown fault type %q for the Chaos Mesh backend (known: %v)", spec.Type, Types)
	}
}

// otherSettings rejects settings blocks that do not belong to spec.Type.
func otherSettings(spec drills.Fault, allowed ...string) error {
	set := map[string]bool{
		"podKill":        spec.PodKill != nil,
		"network":        spec.Network != nil,
		"badImage":       spec.BadImage != nil,
		"badConfig":      spec.BadConfig != nil,
		"dataCorruption": spec.DataCorruption != nil,
		"chaosMesh":      spec.ChaosMesh != nil,
	}
	for _, name := range []string{"podKill", "network", "badImage", "badConfig", "dataCorruption", "chaosMesh"} {
		if set[name] && !slices.Contains(allowed, name) {
			return invalid(spec, "settings block %s does not apply to %s", name, spec.Type)
		}
	}
	return nil
}

func buildPodChaos(spec drills.Fault, target drills.Target, sel Selection, meta Meta) (*v1alpha1.PodChaos, error) {
	obj := &v1alpha1.PodChaos{TypeMeta: typeMeta(kindPodChaos), ObjectMeta: meta.objectMeta(spec, sel.Namespace)}
	obj.Spec.PodSelector = sel.podSelector()
	obj.Spec.Duration = duration(spec.Duration)
	switch spec.Type {
	case drills.FaultPodKill:
		if err := otherSettings(spec, "podKill"); err != nil {
			return nil, err
		}
		obj.Spec.Action = v1alpha1.PodKillAction
		if spec.PodKill != nil && spec.PodKill.GracePeriodSeconds != nil {
			if *spec.PodKill.GracePeriodSeconds < 0 {
				return nil, invalid(spec, "podKill.gracePeriodSeconds %d is negative", *spec.PodKill.GracePeriodSeconds)
			}
			obj.Spec.GracePeriod = *spec.PodKill.GracePeriodSeconds
		}
	case drills.FaultPodFailure:
		if err := otherSettings(spec); err != nil {
			return nil, err
		}
		obj.Spec.Action = v1alpha1.PodFailureAction
		if obj.Spec.Duration == nil {
			return nil, invalid(spec, "pod-failure needs a duration (how long the pods stay failed)")
		}
	case drills.FaultContainerKill:
		if err := otherSettings(spec); err != nil {
			return nil, err
		}
		obj.Spec.Action = v1alpha1.ContainerKillAction
		if target.Container == "" {
			return nil, invalid(spec, "container-kill needs the target's container name")
		}
		obj.Spec.ContainerNames = []string{target.Container}
	}
	if err := webhookValidate(spec, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// webhookValidate runs Chaos Mesh's own defaulting and validation (what
// its admission webhook does in a cluster where Chaos Mesh is installed
// with Helm) on obj.
func webhookValidate(spec drills.Fault, obj webhookObject) error {
	_ = obj.Default(context.Background(), obj)
	if _, err := obj.Validate(); err != nil {
		return invalid(spec, "rejected by Chaos Mesh's validation: %v", err)
	}
	return nil
}
