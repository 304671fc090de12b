package bench

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/firedrill/firedrill/clusters/local/stack"
)

// NoisyWorkload is a copy of the demo's payment Deployment, with a Service
// of the same name, under labels of its own (so that no drill's selector,
// Service or scoped rule reaches it), failing a share of requests on
// purpose: PAYMENT_BEHAVIOUR=buggy with PAYMENT_FAULT_RATE set as container
// env, which overrides the image's per-tag env. It lives in SoakNamespace.
type NoisyWorkload struct {
	// Name names the Deployment and the Service.
	Name string
	// App is the pods' app label, and the Prometheus label its series
	// carry; Track their track label.
	App, Track string
}

// The benchmark's noisy workloads.
var (
	// SoakWorkload is the healthy soak's workload (payment-soak).
	SoakWorkload = NoisyWorkload{Name: SoakDeployment, App: SoakApp, Track: "soak"}
	// SeqWorkload is the sequential part's workload (payment-seq): the
	// revisions whose detection time it measures.
	SeqWorkload = NoisyWorkload{Name: "payment-seq", App: "payment-seq", Track: "seq"}
)

// EnvFaultRate is the payment service's share of failed requests.
const EnvFaultRate = "PAYMENT_FAULT_RATE"

// Objects returns the workload's Service and Deployment: the pod template
// of base (the demo's payment Deployment) under the workload's labels,
// running image with the buggy behaviour at noise, and the revision
// annotation at "1".
func (w NoisyWorkload) Objects(base *appsv1.Deployment, image string, replicas int32, noise float64) (*corev1.Service, *appsv1.Deployment) {
	lbl := map[string]string{"app": w.App, "track": w.Track}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: SoakNamespace, Labels: map[string]string{"app": w.App}},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": w.App},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 8080, TargetPort: intstr.FromString("http")}},
		},
	}
	tmpl := *base.Spec.Template.DeepCopy()
	tmpl.Labels = lbl
	if tmpl.Annotations == nil {
		tmpl.Annotations = map[string]string{}
	}
	tmpl.Annotations[soakRevisionAnnotation] = "1"
	c := &tmpl.Spec.Containers[0]
	c.Image = image
	c.Env = append(c.Env,
		corev1.EnvVar{Name: "PAYMENT_VERSION", Value: "v1-noise"},
		corev1.EnvVar{Name: "PAYMENT_BEHAVIOUR", Value: "buggy"},
		corev1.EnvVar{Name: EnvFaultRate, Value: formatRate(noise)},
	)
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.Name, Namespace: SoakNamespace, Labels: lbl},
		Spec: appsv1.DeploymentSpec{
			Replicas:             &replicas,
			RevisionHistoryLimit: base.Spec.RevisionHistoryLimit,
			Selector:             &metav1.LabelSelector{MatchLabels: lbl},
			Strategy:             *base.Spec.Strategy.DeepCopy(),
			Template:             tmpl,
		},
	}
	return svc, dep
}

func formatRate(r float64) string { return strconv.FormatFloat(r, 'g', -1, 64) }

// Create creates the workload's Service and Deployment from the live
// Deployment baseName and rolls it to a second revision of the same (noisy)
// pod template, waiting until each is available. A revert then has a
// revision to go back to, so a false rollback would really act.
func (w NoisyWorkload) Create(ctx context.Context, cs kubernetes.Interface, baseName string, replicas int32, noise float64, timeout time.Duration) error {
	base, err := cs.AppsV1().Deployments(SoakNamespace).Get(ctx, baseName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("bench: %s: %w", w.Name, err)
	}
	svc, dep := w.Objects(base, DefaultGoodImage, replicas, noise)
	if _, err := cs.CoreV1().Services(SoakNamespace).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("bench: %s: %w", w.Name, err)
	}
	if _, err := cs.AppsV1().Deployments(SoakNamespace).Create(ctx, dep, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("bench: %s: %w", w.Name, err)
	}
	if err := stack.WaitAvailable(ctx, cs, SoakNamespace, w.Name, timeout); err != nil {
		return err
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{%q:"2"}}}}}`, soakRevisionAnnotation)
	if _, err := cs.AppsV1().Deployments(SoakNamespace).Patch(ctx, w.Name, "application/strategic-merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("bench: %s: %w", w.Name, err)
	}
	return stack.WaitAvailable(ctx, cs, SoakNamespace, w.Name, timeout)
}

// Push gives the workload a new revision: the pod template's revision
// annotation set to token (which must differ from every earlier token)
// and, when rate is not nil, PAYMENT_FAULT_RATE set to *rate. It resumes a
// paused Deployment too (the human strategy pauses it). It returns once
// the API server has the change and does not wait for the rollout.
func (w NoisyWorkload) Push(ctx context.Context, cs kubernetes.Interface, token string, rate *float64) error {
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := cs.AppsV1().Deployments(SoakNamespace).Get(ctx, w.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		tmpl := &dep.Spec.Template
		if tmpl.Annotations == nil {
			tmpl.Annotations = map[string]string{}
		}
		tmpl.Annotations[soakRevisionAnnotation] = token
		if rate != nil {
			if len(tmpl.Spec.Containers) == 0 {
				return fmt.Errorf("no container")
			}
			setEnv(&tmpl.Spec.Containers[0], EnvFaultRate, formatRate(*rate))
		}
		dep.Spec.Paused = false
		_, err = cs.AppsV1().Deployments(SoakNamespace).Update(ctx, dep, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		return fmt.Errorf("bench: %s: push revision %s: %w", w.Name, token, err)
	}
	return nil
}

// setEnv sets the container's variable name to value, adding it if absent.
func setEnv(c *corev1.Container, name, value string) {
	for i := range c.Env {
		if c.Env[i].Name == name {
			c.Env[i] = corev1.EnvVar{Name: name, Value: value}
			return
		}
	}
	c.Env = append(c.Env, corev1.EnvVar{Name: name, Value: value})
}

// WaitRolledOut waits until the workload has rolled out: observed, every
// replica updated and available, no old replica left.
func (w NoisyWorkload) WaitRolledOut(ctx context.Context, cs kubernetes.Interface, timeout time.Duration) error {
	return stack.WaitAvailable(ctx, cs, SoakNamespace, w.Name, timeout)
}

// ReplicaSet returns the pod-template-hash and the Deployment revision
// number of the workload's ReplicaSet whose pod template carries the
// revision annotation token (the newest, should there be several).
func (w NoisyWorkload) ReplicaSet(ctx context.Context, cs kubernetes.Interface, token string) (hash, number string, err error) {
	rss, err := cs.AppsV1().ReplicaSets(SoakNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + w.App})
	if err != nil {
		return "", "", fmt.Errorf("bench: %s: %w", w.Name, err)
	}
	var best *appsv1.ReplicaSet
	for i := range rss.Items {
		rs := &rss.Items[i]
		if rs.Spec.Template.Annotations[soakRevisionAnnotation] != token {
			continue
		}
		if best == nil || best.CreationTimestamp.Before(&rs.CreationTimestamp) {
			best = rs
		}
	}
	if best == nil {
		return "", "", fmt.Errorf("bench: %s: no replica set of revision %s", w.Name, token)
	}
	return best.Labels[appsv1.DefaultDeploymentUniqueLabelKey], best.Annotations["deployment.kubernetes.io/revision"], nil
}

// WaitReplicaSet waits until the ReplicaSet of revision token exists and
// returns its pod-template-hash and revision number.
func (w NoisyWorkload) WaitReplicaSet(ctx context.Context, cs kubernetes.Interface, token string, timeout time.Duration) (hash, number string, err error) {
	var last error
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		hash, number, last = w.ReplicaSet(ctx, cs, token)
		return last == nil && hash != "", nil
	})
	if err != nil {
		return "", "", fmt.Errorf("bench: %s: replica set of revision %s: %w", w.Name, token, errors.Join(err, last))
	}
	return hash, number, nil
}

// Delete deletes the workload's Deployment and Service and waits until its
// pods are gone. Objects already gone are no error.
func (w NoisyWorkload) Delete(ctx context.Context, cs kubernetes.Interface, timeout time.Duration) error {
	fg := metav1.DeletePropagationForeground
	var errs []error
	if err := cs.AppsV1().Deployments(SoakNamespace).Delete(ctx, w.Name, metav1.DeleteOptions{PropagationPolicy: &fg}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	if err := cs.CoreV1().Services(SoakNamespace).Delete(ctx, w.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return fmt.Errorf("bench: %s: %w", w.Name, errors.Join(errs...))
	}
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(SoakNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + w.App})
		return err == nil && len(pods.Items) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("bench: %s pods still there after %s: %w", w.Name, timeout, err)
	}
	return nil
}
