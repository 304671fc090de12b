package chaosmesh

import (
	"context"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/scenarios"
)

// Defaults of the waits.
const (
	DefaultInjectTimeout = time.Minute
	DefaultRemoveTimeout = time.Minute
	defaultPoll          = 250 * time.Millisecond
)

type options struct {
	injectTimeout time.Duration
	removeTimeout time.Duration
	poll          time.Duration
}

// Option configures the faults of a registry.
type Option func(*options)

// WithInjectTimeout bounds the wait for Chaos Mesh to report a fault
// injected (default 1m).
func WithInjectTimeout(d time.Duration) Option { return func(o *options) { o.injectTimeout = d } }

// WithRemoveTimeout bounds the wait for a deleted object to be gone
// (default 1m).
func WithRemoveTimeout(d time.Duration) Option { return func(o *options) { o.removeTimeout = d } }

// WithPollInterval sets how often the object is read while waiting
// (default 250ms).
func WithPollInterval(d time.Duration) Option { return func(o *options) { o.poll = d } }

// NewRegistry returns the Chaos Mesh backend as a registry: PodChaos
// faults (pod-kill, pod-failure, container-kill), NetworkChaos faults
// (network-partition, network-loss, network-delay, bandwidth) and
// chaos-mesh faults of any kind. deps.Client reads the target and the
// pods; c writes the Chaos Mesh objects (see NewClient).
func NewRegistry(deps scenarios.Deps, c client.Client, opts ...Option) (*scenarios.Registry, error) {
	if deps.Client == nil {
		return nil, fmt.Errorf("chaosmesh: registry: no Kubernetes client in deps")
	}
	if c == nil {
		return nil, fmt.Errorf("chaosmesh: registry: no Chaos Mesh client")
	}
	o := options{injectTimeout: DefaultInjectTimeout, removeTimeout: DefaultRemoveTimeout, poll: defaultPoll}
	for _, opt := range opts {
		opt(&o)
	}
	r := scenarios.NewRegistry(drills.BackendChaosMesh, deps)
	factory := scenarios.FactoryFunc(func(ctx context.Context, spec drills.Fault, target drills.Target, deps scenarios.Deps) (scenarios.Fault, error) {
		return newFault(ctx, spec, target, deps, c, o)
	})
	for _, t := range Types {
		if err := r.Register(t, factory); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// newFault resolves the selection (and the container of container-kill)
// and builds the object once, so that bad parameters fail here, before
// anything is applied.
func newFault(ctx context.Context, spec drills.Fault, target drills.Target, deps scenarios.Deps, c client.Client, o options) (scenarios.Fault, error) {
	sel, err := ResolveSelection(ctx, deps.Client, spec, target)
	if err != nil {
		return nil, err
	}
	if spec.Type == drills.FaultContainerKill && target.Container == "" {
		if target.Name == "" {
			return nil, invalid(spec, "container-kill needs target.container or a target Deployment")
		}
		dep, err := deps.Client.AppsV1().Deployments(target.Namespace).Get(ctx, target.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("chaosmesh: target deployment %s/%s: %w", target.Namespace, target.Name, err)
		}
		if len(dep.Spec.Template.Spec.Containers) == 0 {
			return nil, fmt.Errorf("chaosmesh: deployment %s/%s has no containers", target.Namespace, target.Name)
		}
		target.Container = dep.Spec.Template.Spec.Containers[0].Name
	}
	f := &fault{spec: spec, target: target, sel: sel, deps: deps, c: c, opts: o}
	if _, err := f.build(); err != nil {
		return nil, err
	}
	return f, nil
}

func labelSet(m map[string]string) labels.Set { return labels.Set(m) }
