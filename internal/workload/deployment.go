package workload

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/firedrill/firedrill/drills"
)

// deploymentRevision is the Deployment controller's revision number.
const deploymentRevision = "deployment.kubernetes.io/revision"

// deployments is Interface for Deployments.
type deployments struct{ cs kubernetes.Interface }

func (d *deployments) Kind() drills.TargetKind { return drills.TargetDeployment }

func (d *deployments) Get(ctx context.Context, ns, name string) (*Workload, error) {
	dep, err := d.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", ns, name, err)
	}
	return FromDeployment(dep), nil
}

func (d *deployments) List(ctx context.Context, ns string) ([]*Workload, error) {
	list, err := d.cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("deployments: %w", err)
	}
	out := make([]*Workload, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, FromDeployment(&list.Items[i]))
	}
	return out, nil
}

func (d *deployments) Patch(ctx context.Context, ns, name string, patch []byte) error {
	_, err := d.cs.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: FieldManager})
	if err != nil {
		return fmt.Errorf("patch deployment %s/%s: %w", ns, name, err)
	}
	return nil
}

func (d *deployments) Mutate(ctx context.Context, ns, name string, fn func(*Workload) bool) (bool, error) {
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		changed = false
		dep, err := d.cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		w := FromDeployment(dep)
		if !fn(w) {
			return nil
		}
		dep.Annotations = w.Annotations
		dep.Spec.Template = w.Template
		dep.Spec.Replicas = w.Replicas
		dep.Spec.Paused = w.Paused
		_, err = d.cs.AppsV1().Deployments(ns).Update(ctx, dep, metav1.UpdateOptions{FieldManager: FieldManager})
		changed = err == nil
		return err
	})
	if err != nil {
		return false, fmt.Errorf("update deployment %s/%s: %w", ns, name, err)
	}
	return changed, nil
}

// FromDeployment is the workload view of dep (a deep copy).
func FromDeployment(dep *appsv1.Deployment) *Workload {
	dep = dep.DeepCopy()
	orig := dep.DeepCopy()
	w := &Workload{
		Kind:        drills.TargetDeployment,
		Namespace:   dep.Namespace,
		Name:        dep.Name,
		UID:         dep.UID,
		Annotations: dep.Annotations,
		Selector:    dep.Spec.Selector,
		Template:    dep.Spec.Template,
		Replicas:    dep.Spec.Replicas,
		Paused:      dep.Spec.Paused,
		Revision:    dep.Annotations[deploymentRevision],
		HashLabel:   appsv1.DefaultDeploymentUniqueLabelKey,
		Object:      orig,
	}
	w.Status, w.Healthy = deploymentHealth(dep)
	return w
}

// deploymentHealth: every replica of the current template is updated and
// available (what the runner has always required of a target).
func deploymentHealth(d *appsv1.Deployment) (string, bool) {
	if d.Generation > d.Status.ObservedGeneration {
		return "waiting for the deployment's spec update to be observed", false
	}
	n := int32(1)
	if d.Spec.Replicas != nil {
		n = *d.Spec.Replicas
	}
	if d.Status.UpdatedReplicas == n && d.Status.AvailableReplicas >= n && d.Status.Replicas == n {
		return fmt.Sprintf("%d/%d updated replicas available", d.Status.AvailableReplicas, n), true
	}
	return fmt.Sprintf("%d/%d updated replicas available", d.Status.AvailableReplicas, n), false
}
