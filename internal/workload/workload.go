package workload

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
)

// Workload is a target as it is now, whatever its kind.
type Workload struct {
	// Kind is Deployment or Rollout.
	Kind drills.TargetKind
	// Namespace, Name and UID identify the object.
	Namespace, Name string
	UID             types.UID
	// Annotations are the object's own annotations.
	Annotations map[string]string
	// Selector selects the workload's pods.
	Selector *metav1.LabelSelector
	// Template is the pod template of the current revision.
	Template corev1.PodTemplateSpec
	// Replicas is spec.replicas (nil: the default, 1).
	Replicas *int32
	// Paused is spec.paused.
	Paused bool
	// Revision is the controller's revision number ("" before the first).
	Revision string
	// HashLabel is the label that carries the pod-template hash on the
	// workload's ReplicaSets and pods.
	HashLabel string
	// Healthy says whether every replica of the current template is
	// updated and available; Status says what the controller is waiting
	// for when it is not.
	Healthy bool
	Status  string
	// Object is the object as read: an *appsv1.Deployment or an
	// *unstructured.Unstructured Rollout.
	Object runtime.Object
}

// String is "Kind namespace/name".
func (w *Workload) String() string { return fmt.Sprintf("%s %s/%s", w.Kind, w.Namespace, w.Name) }

// ReplicaCount is spec.replicas with its default.
func (w *Workload) ReplicaCount() int32 {
	if w.Replicas == nil {
		return 1
	}
	return *w.Replicas
}

// Container returns the template's container called name, or nil.
func (w *Workload) Container(name string) *corev1.Container {
	for i := range w.Template.Spec.Containers {
		if w.Template.Spec.Containers[i].Name == name {
			return &w.Template.Spec.Containers[i]
		}
	}
	return nil
}

// Choice is a container name and the field it came from, for messages.
type Choice struct {
	// Field is the drill field that named the container, e.g.
	// spec.target.container.
	Field string
	// Name is the container's name ("": not set).
	Name string
}

// ContainerName picks the container a fault acts on: the first choice that
// is set, else the template's first container. A name the template does
// not have is an error naming the field and the containers there are.
func (w *Workload) ContainerName(choices ...Choice) (string, error) {
	for _, c := range choices {
		if c.Name == "" {
			continue
		}
		if w.Container(c.Name) != nil {
			return c.Name, nil
		}
		return "", &NoContainerError{Workload: w.String(), Field: c.Field, Name: c.Name, Have: w.ContainerNames()}
	}
	if len(w.Template.Spec.Containers) == 0 {
		return "", fmt.Errorf("%s has no containers", w)
	}
	return w.Template.Spec.Containers[0].Name, nil
}

// ContainerNames are the names of the template's containers, in order.
func (w *Workload) ContainerNames() []string {
	var out []string
	for _, c := range w.Template.Spec.Containers {
		out = append(out, c.Name)
	}
	return out
}

// NoContainerError is a container name the workload's template lacks.
type NoContainerError struct {
	// Workload is "Kind namespace/name".
	Workload string
	// Field named the container.
	Field string
	// Name is the missing container.
	Name string
	// Have are the containers the template has.
	Have []string
}

func (e *NoContainerError) Error() string {
	field := e.Field
	if field == "" {
		field = "container"
	}
	return fmt.Sprintf("%s: %s has no container %q (its containers: %s)", field, e.Workload, e.Name, strings.Join(quoted(e.Have), ", "))
}

func quoted(s []string) []string {
	out := make([]string, len(s))
	for i, v := range s {
		out[i] = fmt.Sprintf("%q", v)
	}
	return out
}

// Interface reads and writes the workloads of one kind.
type Interface interface {
	// Kind is the kind this client handles.
	Kind() drills.TargetKind
	// Get reads the workload.
	Get(ctx context.Context, namespace, name string) (*Workload, error)
	// List reads every workload of the kind in namespace ("" for all).
	List(ctx context.Context, namespace string) ([]*Workload, error)
	// Patch applies a strategic-merge patch written against a
	// Deployment's schema; it may touch metadata and spec.template (the
	// fields a Rollout shares with a Deployment).
	Patch(ctx context.Context, namespace, name string, patch []byte) error
	// Mutate reads the workload, lets fn change its Annotations,
	// Template, Replicas and Paused, and writes it back when fn returns
	// true, retrying on conflicts. It reports whether it wrote.
	Mutate(ctx context.Context, namespace, name string, fn func(w *Workload) bool) (bool, error)
}

// FieldManager is the field manager of firedrill's writes.
const FieldManager = "firedrill"

// For returns the client of kind: Deployments through cs, Rollouts
// through dyn. A Rollout without a dynamic client is an error.
func For(kind drills.TargetKind, cs kubernetes.Interface, dyn dynamic.Interface) (Interface, error) {
	switch kind {
	case "", drills.TargetDeployment:
		if cs == nil {
			return nil, errors.New("workload: no Kubernetes client")
		}
		return &deployments{cs: cs}, nil
	case drills.TargetRollout:
		if dyn == nil {
			return nil, errors.New("workload: a Rollout target needs a dynamic Kubernetes client (Argo Rollouts has no typed client here)")
		}
		return &rollouts{dyn: dyn}, nil
	default:
		return nil, fmt.Errorf("workload: kind %s is not supported (Deployment or Rollout)", kind)
	}
}

// ReplicaSets are the ReplicaSets the workload controls.
func ReplicaSets(ctx context.Context, cs kubernetes.Interface, w *Workload) ([]appsv1.ReplicaSet, error) {
	sel, err := metav1.LabelSelectorAsSelector(w.Selector)
	if err != nil {
		return nil, fmt.Errorf("%s: selector: %w", w, err)
	}
	list, err := cs.AppsV1().ReplicaSets(w.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("replica sets of %s: %w", w, err)
	}
	out := slices.DeleteFunc(list.Items, func(rs appsv1.ReplicaSet) bool {
		ref := metav1.GetControllerOf(&rs)
		return ref == nil || ref.UID != w.UID
	})
	return out, nil
}
