package scenarios

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
)

// revisionAnnotation is the Deployment controller's revision number.
const revisionAnnotation = "deployment.kubernetes.io/revision"

// containerName picks the container: explicit, else the target's, else the
// Deployment's first.
func containerName(dep *appsv1.Deployment, names ...string) (string, error) {
	for _, n := range names {
		if n == "" {
			continue
		}
		for _, c := range dep.Spec.Template.Spec.Containers {
			if c.Name == n {
				return n, nil
			}
		}
		return "", fmt.Errorf("deployment %s/%s has no container %q", dep.Namespace, dep.Name, n)
	}
	if len(dep.Spec.Template.Spec.Containers) == 0 {
		return "", fmt.Errorf("deployment %s/%s has no containers", dep.Namespace, dep.Name)
	}
	return dep.Spec.Template.Spec.Containers[0].Name, nil
}

func container(dep *appsv1.Deployment, name string) *corev1.Container {
	for i := range dep.Spec.Template.Spec.Containers {
		if dep.Spec.Template.Spec.Containers[i].Name == name {
			return &dep.Spec.Template.Spec.Containers[i]
		}
	}
	return nil
}

func getDeployment(ctx context.Context, cs kubernetes.Interface, target drills.Target) (*appsv1.Deployment, error) {
	if target.Kind != "" && target.Kind != drills.TargetDeployment {
		return nil, fmt.Errorf("target kind %s is not supported by the native backend", target.Kind)
	}
	dep, err := cs.AppsV1().Deployments(target.Namespace).Get(ctx, target.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("deployment %s/%s: %w", target.Namespace, target.Name, err)
	}
	return dep, nil
}

// strategicPatch applies a strategic-merge patch to a Deployment.
func patchDeployment(ctx context.Context, cs kubernetes.Interface, ns, name string, patch []byte) error {
	_, err := cs.AppsV1().Deployments(ns).Patch(ctx, name, types.StrategicMergePatchType, patch, metav1.PatchOptions{FieldManager: "firedrill"})
	if err != nil {
		return fmt.Errorf("patch deployment %s/%s: %w", ns, name, err)
	}
	return nil
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
