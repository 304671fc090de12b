package scenarios

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
)

// DrillsLabel, set to DrillsEnabled on a Namespace, opts it in to drills:
// no fault is injected into any other namespace unless the caller allows
// it explicitly (firedrill run --allow-namespace).
const (
	DrillsLabel   = "firedrill.dev/drills"
	DrillsEnabled = "enabled"
)

// Errors of the target safety checks.
var (
	// ErrNotOptedIn: the namespace is neither labelled nor allowed.
	ErrNotOptedIn = errors.New("scenarios: namespace not opted in to drills")
	// ErrUnsafeTarget: a network or process fault would hit a pod that
	// shares the node's network or process namespace, or is privileged.
	ErrUnsafeTarget = errors.New("scenarios: unsafe fault target")
)

// CheckOptIn refuses ns unless it is in allowed or labelled
// firedrill.dev/drills=enabled; the error says how to opt it in. It only
// reads the Namespace.
func CheckOptIn(ctx context.Context, cs kubernetes.Interface, ns string, allowed []string) error {
	if slices.Contains(ProtectedNamespaces, ns) {
		return fmt.Errorf("%w: refusing to inject faults into %s", ErrProtectedNamespace, ns)
	}
	if slices.Contains(allowed, ns) {
		return nil
	}
	obj, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("scenarios: namespace %s: %w", ns, err)
	}
	if v, ok := obj.Labels[DrillsLabel]; ok && v == DrillsEnabled {
		return nil
	}
	return fmt.Errorf("%w: namespace %s is not labelled %s=%s; opt it in with `kubectl label namespace %s %s=%s` or pass --allow-namespace %s",
		ErrNotOptedIn, ns, DrillsLabel, DrillsEnabled, ns, DrillsLabel, DrillsEnabled, ns)
}

// HostFault reports whether faults of type t act inside a pod's network or
// process namespaces (iptables and tc in its netns, killing or stressing
// its container's processes): on a pod that shares the node's namespaces
// they would hit the node. pod-kill and pod-failure go through the API
// server (delete the pod, swap its image) and are not host faults; a raw
// chaos-mesh object may be any kind, so it counts as one.
func HostFault(t drills.FaultType) bool {
	switch t {
	case drills.FaultNetworkPartition, drills.FaultNetworkLoss, drills.FaultNetworkDelay, drills.FaultBandwidth,
		drills.FaultContainerKill, drills.FaultChaosMesh:
		return true
	}
	return false
}

// UnsafePodReason says why a network or process fault must not touch p
// (hostNetwork, hostPID, a privileged container), or "" when it may.
func UnsafePodReason(p *corev1.Pod) string {
	var why []string
	if p.Spec.HostNetwork {
		why = append(why, "hostNetwork")
	}
	if p.Spec.HostPID {
		why = append(why, "hostPID")
	}
	for _, c := range append(slices.Clone(p.Spec.InitContainers), p.Spec.Containers...) {
		if c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged {
			why = append(why, "privileged container "+c.Name)
		}
	}
	return strings.Join(why, ", ")
}

// refuseUnsafePods returns ErrUnsafeTarget naming the first pod a fault of
// type t must not touch.
func refuseUnsafePods(t drills.FaultType, pods []corev1.Pod) error {
	if !HostFault(t) {
		return nil
	}
	for i := range pods {
		if why := UnsafePodReason(&pods[i]); why != "" {
			return fmt.Errorf("%w: %s fault on pod %s/%s (%s): it would act on the node itself; target pods without hostNetwork, hostPID and privileged containers",
				ErrUnsafeTarget, t, pods[i].Namespace, pods[i].Name, why)
		}
	}
	return nil
}

// CheckFaultTargets refuses a network or process fault (HostFault) whose
// selector (default: the target Deployment's pods) matches any pod with
// hostNetwork, hostPID or a privileged container, whichever pod the mode
// would pick. It only reads.
func CheckFaultTargets(ctx context.Context, cs kubernetes.Interface, spec drills.Fault, target drills.Target) error {
	if !HostFault(spec.Type) {
		return nil
	}
	if spec.Type == drills.FaultChaosMesh && (spec.Selector == nil || len(spec.Selector.Labels) == 0) && target.Name == "" {
		return nil // a raw object with its own selector: checked by Chaos Mesh's own rules
	}
	c, err := CandidatePods(ctx, cs, spec, target)
	if err != nil {
		return err
	}
	return refuseUnsafePods(spec.Type, c.Pods)
}

// Candidates are the pods a fault may pick from.
type Candidates struct {
	// Namespace and Selector are where and how they were selected.
	Namespace, Selector string
	// Pods are the matching pods not being deleted.
	Pods []corev1.Pod
}

// CandidatePods lists the pods the fault's selector (or, without one, the
// target's) matches now: the set its mode picks from at injection. It
// only reads.
func CandidatePods(ctx context.Context, cs kubernetes.Interface, spec drills.Fault, target drills.Target) (Candidates, error) {
	sel := spec.Selector
	if sel == nil {
		sel = &drills.Selector{}
	}
	ns := FaultNamespace(spec, target)
	lsel, err := podSelector(ctx, cs, sel, target, ns)
	if err != nil {
		return Candidates{}, err
	}
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: lsel.String()})
	if err != nil {
		return Candidates{}, fmt.Errorf("scenarios: list pods %s in %s: %w", lsel, ns, err)
	}
	c := Candidates{Namespace: ns, Selector: lsel.String()}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil && lsel.Matches(labels.Set(p.Labels)) {
			c.Pods = append(c.Pods, p)
		}
	}
	return c, nil
}

// FaultNamespace is the namespace a fault's pods are selected in: its
// selector's, else the target's.
func FaultNamespace(spec drills.Fault, target drills.Target) string {
	if spec.Selector != nil && spec.Selector.Namespace != "" {
		return spec.Selector.Namespace
	}
	return target.Namespace
}
