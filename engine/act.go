package engine

import (
	"context"
	"errors"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
)

// Strategy is one way to roll back. Act must be idempotent and safe to
// retry after a crash: running it again after it succeeded changes nothing
// and reports AlreadyDone.
type Strategy interface {
	// Name of the strategy.
	Name() drills.StrategyName
	// Act carries out the decision on the target.
	Act(ctx context.Context, t Target, d Decision) (Outcome, error)
}

// PartialActor is implemented by a Strategy that can act on a share of the
// target: a partial-rollback decision moves Decision.Percent of it back.
// Escalation gives partial-rollback decisions only to strategies whose
// ActsPartially is true; the others refuse them.
type PartialActor interface {
	// ActsPartially reports whether the strategy can act on a share.
	ActsPartially() bool
}

// ActsPartially reports whether s can carry out a partial rollback.
func ActsPartially(s Strategy) bool {
	p, ok := s.(PartialActor)
	return ok && p.ActsPartially()
}

// refusePartial is the error of a strategy that cannot act on a share of
// the target, for a partial-rollback decision.
func refusePartial(name drills.StrategyName, d Decision, why string) error {
	if d.Action != ActionPartialRollback {
		return nil
	}
	return fmt.Errorf("%s: cannot roll back %d%% only (%s): %w", name, d.Percent, why, ErrRefused)
}

// Target is the workload a strategy acts on.
type Target struct {
	// Kind is the workload's kind: Deployment (default) or Rollout (Argo
	// Rollouts; only revert, restore and human act on it).
	Kind drills.TargetKind
	// Namespace and Deployment name the workload (a Rollout's name for a
	// Rollout).
	Namespace, Deployment string
	// Service fronts it (traffic-switch's default Service).
	Service string
	// ReplicaSet is the faulty ReplicaSet (shrink); empty means the
	// Deployment's newest.
	ReplicaSet string
	// IncidentID identifies the incident (the audit rollback_id); the human
	// strategy uses it to notify once.
	IncidentID string
}

// TargetOf is the Target of a drill's target.
func TargetOf(t drills.Target) Target {
	return Target{Kind: t.Kind, Namespace: t.Namespace, Deployment: t.Name, Service: t.Service}
}

// Outcome is what a strategy did.
type Outcome struct {
	// Strategy that acted.
	Strategy drills.StrategyName
	// AlreadyDone is set when a previous run had already done it and this
	// one changed nothing.
	AlreadyDone bool
	// FromVersion and ToVersion describe the change, e.g. revisions for
	// revert, selectors for traffic-switch, replicas for shrink.
	FromVersion, ToVersion string
	// Message says what happened.
	Message string
	// Restored is the pod template the workload was rolled back to (revert
	// only; nil otherwise): the guard records its image as the version
	// restored, which may be the last known good rather than the previous.
	Restored *corev1.PodTemplateSpec
}

// ErrRefused is wrapped by errors of a strategy that will not act on the
// target as it is (e.g. a paused Deployment); retrying does not help.
var ErrRefused = errors.New("refused")

// Annotations and labels the engine writes.
const (
	// AnnotationRollbackOf records on a Deployment which revert it did:
	// the from and to revisions and ReplicaSets, as JSON.
	AnnotationRollbackOf = "firedrill.dev/rollback-of"
	// AnnotationShrink records on a scaled workload the shrink in progress:
	// its original and goal replicas, as JSON.
	AnnotationShrink = "firedrill.dev/shrink"
	// AnnotationHuman records on a workload the incident handed over to a
	// human: the incident, the time and whether it was paused, as JSON.
	AnnotationHuman = "firedrill.dev/human"
)

// Deps are what the strategies need from outside.
type Deps struct {
	// Client talks to the API server.
	Client kubernetes.Interface
	// Dynamic reaches custom resources (Argo Rollouts' Rollouts); nil
	// when the guard has none.
	Dynamic dynamic.Interface
}

// NewStrategies builds the guard's strategies in order. An unknown name is
// an error, never a silent fallback.
func NewStrategies(g drills.Guard, deps Deps) ([]Strategy, error) {
	out := make([]Strategy, 0, len(g.Strategies))
	for i, s := range g.Strategies {
		st, err := NewStrategy(s, deps)
		if err != nil {
			return nil, fmt.Errorf("strategy %d: %w", i, err)
		}
		out = append(out, st)
	}
	return out, nil
}

// NewStrategy builds one strategy from its settings.
func NewStrategy(s drills.Strategy, deps Deps) (Strategy, error) {
	needClient := func() error {
		if deps.Client == nil {
			return fmt.Errorf("%s: no Kubernetes client", s.Name)
		}
		return nil
	}
	switch s.Name {
	case drills.StrategyRevert:
		if err := needClient(); err != nil {
			return nil, err
		}
		r := NewRevert(deps.Client, s.Revert)
		r.dyn = deps.Dynamic
		return r, nil
	case drills.StrategyTrafficSwitch:
		if err := needClient(); err != nil {
			return nil, err
		}
		ts, err := NewTrafficSwitch(deps.Client, s.TrafficSwitch)
		if err != nil {
			return nil, err
		}
		return ts, nil
	case drills.StrategyShrink:
		if err := needClient(); err != nil {
			return nil, err
		}
		sh, err := NewShrink(deps.Client, s.Shrink)
		if err != nil {
			return nil, err
		}
		return sh, nil
	case drills.StrategyRestore:
		r, err := NewRestore(s.Restore)
		if err != nil {
			return nil, err
		}
		return r, nil
	case drills.StrategyHuman:
		if err := needClient(); err != nil {
			return nil, err
		}
		h := NewHuman(deps.Client, s.Human)
		h.dyn = deps.Dynamic
		return h, nil
	}
	return nil, fmt.Errorf("unknown strategy %q", s.Name)
}
