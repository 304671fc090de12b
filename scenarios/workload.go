package scenarios

import (
	"context"
	"encoding/json"

	corev1 "k8s.io/api/core/v1"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/internal/workload"
)

// revisionAnnotation is the Deployment controller's revision number.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// targetContainerField is the drill field naming the target's container.
const targetContainerField = "spec.target.container"

// workloads is the client of the target's kind: Deployments through
// Client, Rollouts through Dynamic.
func (d Deps) workloads(kind drills.TargetKind) (workload.Interface, error) {
	return workload.For(kind, d.Client, d.Dynamic)
}

// getWorkload reads the target, a Deployment or a Rollout.
func getWorkload(ctx context.Context, deps Deps, target drills.Target) (*workload.Workload, error) {
	wc, err := deps.workloads(target.Kind)
	if err != nil {
		return nil, err
	}
	return wc.Get(ctx, target.Namespace, target.Name)
}

// patchWorkload applies a strategic-merge patch (a Deployment's schema) to
// the target of kind.
func patchWorkload(ctx context.Context, deps Deps, kind drills.TargetKind, ns, name string, patch []byte) error {
	wc, err := deps.workloads(kind)
	if err != nil {
		return err
	}
	return wc.Patch(ctx, ns, name, patch)
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // only maps of strings and nil
	}
	return b
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// describeKind is the target's kind for messages (Deployment by default).
func describeKind(k drills.TargetKind) string {
	if k == "" {
		return string(drills.TargetDeployment)
	}
	return string(k)
}
