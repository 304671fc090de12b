package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
)

// TrafficSwitch points the Service back at the stable track by replacing
// its selector with the stable selector. No pod restarts; if the selector
// already is the stable one it does nothing.
type TrafficSwitch struct {
	client  kubernetes.Interface
	service string
	stable  map[string]string
}

// NewTrafficSwitch builds the traffic-switch strategy; the settings must
// name a stable selector.
func NewTrafficSwitch(client kubernetes.Interface, s *drills.TrafficSwitchSettings) (*TrafficSwitch, error) {
	if s == nil || len(s.StableSelector) == 0 {
		return nil, fmt.Errorf("traffic-switch: no stable selector")
	}
	return &TrafficSwitch{client: client, service: s.Service, stable: maps.Clone(s.StableSelector)}, nil
}

// Name implements Strategy.
func (*TrafficSwitch) Name() drills.StrategyName { return drills.StrategyTrafficSwitch }

// Act implements Strategy. A partial rollback decision is refused
// (ErrRefused): a Service selector cannot split traffic.
func (s *TrafficSwitch) Act(ctx context.Context, t Target, d Decision) (Outcome, error) {
	return logged(ctx, t, func() (Outcome, error) { return s.act(ctx, t, d) })
}

func (s *TrafficSwitch) act(ctx context.Context, t Target, d Decision) (Outcome, error) {
	out := Outcome{Strategy: drills.StrategyTrafficSwitch}
	if err := refusePartial(drills.StrategyTrafficSwitch, d, "a Service selector cannot split traffic"); err != nil {
		return out, err
	}
	name := s.service
	if name == "" {
		name = t.Service
	}
	if name == "" {
		return out, fmt.Errorf("traffic-switch: no Service for %s/%s: %w", t.Namespace, t.Deployment, ErrRefused)
	}
	svcs := s.client.CoreV1().Services(t.Namespace)
	svc, err := svcs.Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return out, fmt.Errorf("traffic-switch: get service %s/%s: %w", t.Namespace, name, err)
	}
	out.FromVersion = labels.SelectorFromSet(svc.Spec.Selector).String()
	out.ToVersion = labels.SelectorFromSet(s.stable).String()
	if maps.Equal(svc.Spec.Selector, s.stable) {
		out.AlreadyDone = true
		out.Message = fmt.Sprintf("already done: service %s/%s selects %s", t.Namespace, name, out.ToVersion)
		return out, nil
	}
	ops := []map[string]any{}
	if svc.ResourceVersion != "" {
		ops = append(ops, map[string]any{"op": "test", "path": "/metadata/resourceVersion", "value": svc.ResourceVersion})
	}
	ops = append(ops, map[string]any{"op": "replace", "path": "/spec/selector", "value": s.stable})
	if svc.Spec.Selector == nil {
		ops[len(ops)-1]["op"] = "add"
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return out, fmt.Errorf("traffic-switch: %w", err)
	}
	if _, err := svcs.Patch(ctx, name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return out, fmt.Errorf("traffic-switch: patch service %s/%s selector: %w", t.Namespace, name, err)
	}
	out.Message = fmt.Sprintf("switched service %s/%s selector from %s to %s", t.Namespace, name, out.FromVersion, out.ToVersion)
	return out, nil
}
