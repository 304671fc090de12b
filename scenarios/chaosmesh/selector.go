package chaosmesh

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strconv"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/scenarios"
)

// Selection is a fault's pod selector, resolved: what Chaos Mesh's
// selector and mode fields say.
type Selection struct {
	// Namespace of the pods.
	Namespace string
	// Labels the pods carry (labelSelectors).
	Labels map[string]string
	// Expressions are set-based requirements (expressionSelectors), from
	// a Deployment selector's matchExpressions.
	Expressions []metav1.LabelSelectorRequirement
	// Mode is one, all, fixed or fixed-percent.
	Mode drills.SelectorMode
	// Value is the count (fixed) or percentage (fixed-percent).
	Value int
}

// LabelSelector is the selection as a Kubernetes label selector.
func (s Selection) LabelSelector() (labels.Selector, error) {
	return metav1.LabelSelectorAsSelector(&metav1.LabelSelector{MatchLabels: s.Labels, MatchExpressions: s.Expressions})
}

// ResolveSelection turns a fault's selector into a Selection: its
// namespace and labels, defaulting to the target's namespace and the
// target Deployment's pod selector (read with cs). System namespaces are
// refused with scenarios.ErrProtectedNamespace.
func ResolveSelection(ctx context.Context, cs kubernetes.Interface, spec drills.Fault, target drills.Target) (Selection, error) {
	sel := spec.Selector
	if sel == nil {
		sel = &drills.Selector{}
	}
	s := Selection{Namespace: sel.Namespace, Labels: maps.Clone(sel.Labels), Mode: sel.Mode, Value: sel.Value}
	if s.Namespace == "" {
		s.Namespace = target.Namespace
	}
	if s.Mode == "" {
		s.Mode = drills.ModeOne
	}
	if err := s.validate(spec); err != nil {
		return Selection{}, err
	}
	if len(s.Labels) > 0 {
		return s, nil
	}
	if target.Kind != "" && target.Kind != drills.TargetDeployment {
		return Selection{}, invalid(spec, "target kind %s: give selector labels", target.Kind)
	}
	if target.Name == "" || cs == nil {
		return Selection{}, invalid(spec, "no selector labels and no target Deployment to take them from")
	}
	dep, err := cs.AppsV1().Deployments(s.Namespace).Get(ctx, target.Name, metav1.GetOptions{})
	if err != nil {
		return Selection{}, fmt.Errorf("chaosmesh: selector: target deployment %s/%s: %w", s.Namespace, target.Name, err)
	}
	if dep.Spec.Selector == nil || (len(dep.Spec.Selector.MatchLabels) == 0 && len(dep.Spec.Selector.MatchExpressions) == 0) {
		return Selection{}, fmt.Errorf("chaosmesh: selector: deployment %s/%s has an empty selector", s.Namespace, target.Name)
	}
	s.Labels = maps.Clone(dep.Spec.Selector.MatchLabels)
	s.Expressions = slices.Clone(dep.Spec.Selector.MatchExpressions)
	return s, nil
}

// validate checks the namespace and the mode and value.
func (s Selection) validate(spec drills.Fault) error {
	if s.Namespace == "" {
		return invalid(spec, "selector: no namespace")
	}
	if slices.Contains(scenarios.ProtectedNamespaces, s.Namespace) {
		return fmt.Errorf("chaosmesh: fault %q: %w: refusing to inject faults into %s", spec.Name, scenarios.ErrProtectedNamespace, s.Namespace)
	}
	switch s.Mode {
	case drills.ModeOne, drills.ModeAll:
		if s.Value != 0 {
			return invalid(spec, "selector: mode %s takes no value, got %d", s.Mode, s.Value)
		}
	case drills.ModeFixed:
		if s.Value < 1 {
			return invalid(spec, "selector: mode fixed needs value >= 1, got %d", s.Value)
		}
	case drills.ModeFixedPercent:
		if s.Value < 1 || s.Value > 100 {
			return invalid(spec, "selector: mode fixed-percent needs value 1..100, got %d", s.Value)
		}
	default:
		return invalid(spec, "selector: unknown mode %q (want one, all, fixed or fixed-percent)", s.Mode)
	}
	for k, v := range s.Labels {
		if _, err := labels.NewRequirement(k, "=", []string{v}); err != nil {
			return invalid(spec, "selector: label %s=%s: %v", k, v, err)
		}
	}
	return nil
}

// podSelector is the Chaos Mesh form of s.
func (s Selection) podSelector() v1alpha1.PodSelector {
	ps := v1alpha1.PodSelector{
		Selector: v1alpha1.PodSelectorSpec{GenericSelectorSpec: v1alpha1.GenericSelectorSpec{
			Namespaces:          []string{s.Namespace},
			LabelSelectors:      maps.Clone(s.Labels),
			ExpressionSelectors: slices.Clone(s.Expressions),
		}},
		Mode: v1alpha1.SelectorMode(s.Mode),
	}
	if s.Mode == drills.ModeFixed || s.Mode == drills.ModeFixedPercent {
		ps.Value = strconv.Itoa(s.Value)
	}
	return ps
}

// count is how many of n candidates the mode hits, as Chaos Mesh counts
// them (fixed-percent rounds down).
func (s Selection) count(n int) int {
	switch s.Mode {
	case drills.ModeAll:
		return n
	case drills.ModeFixed:
		return min(s.Value, n)
	case drills.ModeFixedPercent:
		return n * s.Value / 100
	default:
		return min(1, n)
	}
}
