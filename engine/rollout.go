package engine

import (
	"context"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
)

// RolloutStatus tells whether a Deployment's rollout is complete, as
// `kubectl rollout status` does (the logic of kubectl's
// DeploymentStatusViewer): the controller has observed the latest spec, all
// replicas are updated, no old replica is left and every updated replica is
// available. An exceeded progress deadline is an error.
func RolloutStatus(d *appsv1.Deployment) (string, bool, error) {
	if d.Generation > d.Status.ObservedGeneration {
		return "waiting for deployment spec update to be observed", false, nil
	}
	if c := deploymentutil.GetDeploymentCondition(d.Status, appsv1.DeploymentProgressing); c != nil && c.Reason == deploymentutil.TimedOutReason {
		return "", false, fmt.Errorf("deployment %q exceeded its progress deadline", d.Name)
	}
	if d.Spec.Replicas != nil && d.Status.UpdatedReplicas < *d.Spec.Replicas {
		return fmt.Sprintf("waiting for deployment %q rollout to finish: %d out of %d new replicas have been updated", d.Name, d.Status.UpdatedReplicas, *d.Spec.Replicas), false, nil
	}
	if d.Status.Replicas > d.Status.UpdatedReplicas {
		return fmt.Sprintf("waiting for deployment %q rollout to finish: %d old replicas are pending termination", d.Name, d.Status.Replicas-d.Status.UpdatedReplicas), false, nil
	}
	if d.Status.AvailableReplicas < d.Status.UpdatedReplicas {
		return fmt.Sprintf("waiting for deployment %q rollout to finish: %d of %d updated replicas are available", d.Name, d.Status.AvailableReplicas, d.Status.UpdatedReplicas), false, nil
	}
	return fmt.Sprintf("deployment %q successfully rolled out", d.Name), true, nil
}

// WaitRollout polls the Deployment every interval until its rollout is
// complete (RolloutStatus), its progress deadline is exceeded, or timeout
// passes; the error then carries the last status seen.
func WaitRollout(ctx context.Context, client kubernetes.Interface, namespace, name string, timeout, interval time.Duration) (string, error) {
	var last string
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, func(ctx context.Context) (bool, error) {
		d, err := client.AppsV1().Deployments(namespace).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, fmt.Errorf("get deployment %s/%s: %w", namespace, name, err)
		}
		msg, done, err := RolloutStatus(d)
		last = msg
		return done, err
	})
	if err != nil {
		if last != "" {
			return last, fmt.Errorf("rollout of deployment %s/%s did not complete within %s (%s): %w", namespace, name, timeout, last, err)
		}
		return last, fmt.Errorf("rollout of deployment %s/%s: %w", namespace, name, err)
	}
	return last, nil
}
