package scenarios

import (
	"context"
	"encoding/json"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
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

// templatePods finds the Deployment's ReplicaSets whose pod template
// satisfies match and counts their Running (and Ready) pods.
func templatePods(ctx context.Context, cs kubernetes.Interface, dep *appsv1.Deployment, match func(*corev1.PodTemplateSpec) bool) (running, ready int, evidence []string, err error) {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return 0, 0, nil, err
	}
	rss, err := cs.AppsV1().ReplicaSets(dep.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return 0, 0, nil, err
	}
	for _, rs := range rss.Items {
		if !metav1.IsControlledBy(&rs, dep) || !match(&rs.Spec.Template) {
			continue
		}
		hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		pods, err := cs.CoreV1().Pods(dep.Namespace).List(ctx, metav1.ListOptions{LabelSelector: appsv1.DefaultDeploymentUniqueLabelKey + "=" + hash})
		if err != nil {
			return 0, 0, nil, err
		}
		for _, p := range pods.Items {
			if p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
				continue
			}
			running++
			r := podReady(&p)
			if r {
				ready++
			}
			evidence = append(evidence, fmt.Sprintf("pod %s of ReplicaSet %s running (ready %v)", p.Name, rs.Name, r))
		}
	}
	return running, ready, evidence, nil
}

// templateReplicas counts the pods (in any phase, also terminating) of the
// Deployment's ReplicaSets whose template matches, and the replicas those
// ReplicaSets report: the rollout of that template has begun when either
// is above zero.
func templateReplicas(ctx context.Context, cs kubernetes.Interface, dep *appsv1.Deployment, match func(*corev1.PodTemplateSpec) bool) (int, []string, error) {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return 0, nil, err
	}
	rss, err := cs.AppsV1().ReplicaSets(dep.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return 0, nil, err
	}
	n := 0
	var evidence []string
	for _, rs := range rss.Items {
		if !metav1.IsControlledBy(&rs, dep) || !match(&rs.Spec.Template) {
			continue
		}
		hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		pods, err := cs.CoreV1().Pods(dep.Namespace).List(ctx, metav1.ListOptions{LabelSelector: appsv1.DefaultDeploymentUniqueLabelKey + "=" + hash})
		if err != nil {
			return 0, nil, err
		}
		found := 0
		for _, p := range pods.Items {
			if p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == hash && sel.Matches(labels.Set(p.Labels)) {
				found++
				evidence = append(evidence, fmt.Sprintf("pod %s of ReplicaSet %s created (phase %s)", p.Name, rs.Name, p.Status.Phase))
			}
		}
		if found == 0 && rs.Status.Replicas > 0 {
			found = int(rs.Status.Replicas)
			evidence = append(evidence, fmt.Sprintf("ReplicaSet %s reports %d replicas", rs.Name, rs.Status.Replicas))
		}
		n += found
	}
	return n, evidence, nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
