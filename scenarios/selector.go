package scenarios

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
)

// ProtectedNamespaces are never targeted.
var ProtectedNamespaces = []string{"kube-system", "kube-public", "kube-node-lease"}

// Errors of pod selection.
var (
	// ErrProtectedNamespace: the selector points at a system namespace.
	ErrProtectedNamespace = errors.New("scenarios: protected namespace")
	// ErrNoPods: no Running pod matches, or the mode selects none.
	ErrNoPods = errors.New("scenarios: no pods selected")
	// ErrBlastRadius: the mode hits a larger share than allowed.
	ErrBlastRadius = errors.New("scenarios: blast radius exceeded")
)

// Selection is the outcome of selecting pods.
type Selection struct {
	// Namespace and Selector (labels) used.
	Namespace string
	Selector  labels.Selector
	// Candidates is how many Running pods matched.
	Candidates int
	// Pods are the chosen pods, sorted by name.
	Pods []corev1.Pod
}

// SelectPods picks the pods a fault hits, as Chaos Mesh does: the Running
// pods of sel's namespace and labels (default: the target's namespace and
// Deployment selector), narrowed by the mode with rng. maxShare (0..1]
// bounds the share of candidates chosen; 0 means 1.
func SelectPods(ctx context.Context, cs kubernetes.Interface, sel *drills.Selector, target drills.Target, rng *rand.Rand, maxShare float64) (*Selection, error) {
	if sel == nil {
		sel = &drills.Selector{}
	}
	ns := sel.Namespace
	if ns == "" {
		ns = target.Namespace
	}
	if ns == "" {
		return nil, errors.New("scenarios: selector: no namespace")
	}
	if slices.Contains(ProtectedNamespaces, ns) {
		return nil, fmt.Errorf("%w: refusing to inject faults into %s", ErrProtectedNamespace, ns)
	}
	lsel, err := podSelector(ctx, cs, sel, target, ns)
	if err != nil {
		return nil, err
	}
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: lsel.String()})
	if err != nil {
		return nil, fmt.Errorf("scenarios: list pods %s in %s: %w", lsel, ns, err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		// The fake clientset ignores label selectors: filter again.
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && lsel.Matches(labels.Set(p.Labels)) {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return nil, fmt.Errorf("%w: no Running pod matches %s in %s", ErrNoPods, lsel, ns)
	}
	slices.SortFunc(pods, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	n, err := count(sel, len(pods))
	if err != nil {
		return nil, err
	}
	if maxShare <= 0 {
		maxShare = 1
	}
	if float64(n) > maxShare*float64(len(pods))+1e-9 {
		return nil, fmt.Errorf("%w: mode %s would hit %d of %d pods, more than the allowed %.0f%%", ErrBlastRadius, modeOf(sel), n, len(pods), 100*maxShare)
	}
	chosen := make([]corev1.Pod, 0, n)
	for _, i := range rng.Perm(len(pods))[:n] {
		chosen = append(chosen, pods[i])
	}
	slices.SortFunc(chosen, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return &Selection{Namespace: ns, Selector: lsel, Candidates: len(pods), Pods: chosen}, nil
}

func modeOf(sel *drills.Selector) drills.SelectorMode {
	if sel.Mode == "" {
		return drills.ModeOne
	}
	return sel.Mode
}

// count is how many of n candidates the mode hits.
func count(sel *drills.Selector, n int) (int, error) {
	switch modeOf(sel) {
	case drills.ModeOne:
		return 1, nil
	case drills.ModeAll:
		return n, nil
	case drills.ModeFixed:
		if sel.Value < 1 {
			return 0, fmt.Errorf("scenarios: selector: mode fixed needs value >= 1, got %d", sel.Value)
		}
		return min(sel.Value, n), nil
	case drills.ModeFixedPercent:
		if sel.Value < 1 || sel.Value > 100 {
			return 0, fmt.Errorf("scenarios: selector: mode fixed-percent needs value 1..100, got %d", sel.Value)
		}
		k := int(math.Floor(float64(n) * float64(sel.Value) / 100))
		if k == 0 {
			return 0, fmt.Errorf("%w: %d%% of %d pods is none", ErrNoPods, sel.Value, n)
		}
		return k, nil
	default:
		return 0, fmt.Errorf("scenarios: selector: unknown mode %q", sel.Mode)
	}
}

// podSelector is sel's labels, or the target Deployment's pod selector.
func podSelector(ctx context.Context, cs kubernetes.Interface, sel *drills.Selector, target drills.Target, ns string) (labels.Selector, error) {
	if len(sel.Labels) > 0 {
		return labels.SelectorFromSet(sel.Labels), nil
	}
	if target.Kind != "" && target.Kind != drills.TargetDeployment {
		return nil, fmt.Errorf("scenarios: selector: target kind %s: give selector labels", target.Kind)
	}
	if target.Name == "" {
		return nil, errors.New("scenarios: selector: no labels and no target Deployment")
	}
	dep, err := cs.AppsV1().Deployments(ns).Get(ctx, target.Name, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("scenarios: selector: target deployment %s/%s: %w", ns, target.Name, err)
	}
	s, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("scenarios: selector: deployment %s/%s: %w", ns, target.Name, err)
	}
	if s.Empty() {
		return nil, fmt.Errorf("scenarios: selector: deployment %s/%s has an empty selector", ns, target.Name)
	}
	return s, nil
}

func podTargets(pods []corev1.Pod) []Target {
	out := make([]Target, 0, len(pods))
	for _, p := range pods {
		out = append(out, Target{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: string(p.UID), IP: p.Status.PodIP})
	}
	return out
}
