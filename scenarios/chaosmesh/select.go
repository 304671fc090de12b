package chaosmesh

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/rest"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/scenarios"
)

// NeedsDaemon reports whether Chaos Mesh injects spec through its
// chaos-daemon (inside the pods' namespaces) rather than through the API
// server alone.
func NeedsDaemon(spec drills.Fault) bool {
	switch spec.Type {
	case drills.FaultPodKill, drills.FaultPodFailure:
		return false
	case drills.FaultChaosMesh:
		if spec.ChaosMesh == nil {
			return true
		}
		switch spec.ChaosMesh.Kind {
		case "AWSChaos", "GCPChaos", "AzureChaos", "PhysicalMachineChaos":
			return false
		case "PodChaos":
			action, _ := spec.ChaosMesh.Spec["action"].(string)
			return action == "container-kill"
		}
		return true
	default:
		return true
	}
}

// Choose decides the backend of spec from what Detect found: native and
// chaos-mesh when asked for (chaos-mesh fails if it cannot inject spec
// here), and for auto (or empty) chaos-mesh when it is available and can
// inject spec, else native. The reason is for the run's record.
func Choose(spec drills.Fault, a Availability) (drills.Backend, string, error) {
	backend := spec.Backend
	if backend == "" {
		backend = drills.BackendAuto
	}
	supported := slices.Contains(Types, spec.Type)
	cannot := ""
	switch {
	case !supported:
		cannot = fmt.Sprintf("the Chaos Mesh backend has no %s fault", spec.Type)
	case !a.Available():
		cannot = a.Reason
	case NeedsDaemon(spec) && !a.Daemon:
		cannot = fmt.Sprintf("%s needs Chaos Mesh's chaos-daemon, which does not run on this cluster", spec.Type)
	}
	switch backend {
	case drills.BackendNative:
		return drills.BackendNative, "backend native was asked for", nil
	case drills.BackendChaosMesh:
		if cannot != "" {
			return "", "", fmt.Errorf("chaosmesh: fault %q asks for backend chaos-mesh, but %s", spec.Name, cannot)
		}
		return drills.BackendChaosMesh, "backend chaos-mesh was asked for; " + a.Reason, nil
	case drills.BackendAuto:
		if spec.Type == drills.FaultChaosMesh && cannot != "" {
			return "", "", fmt.Errorf("chaosmesh: fault %q is a Chaos Mesh %s, but %s", spec.Name, kindOf(spec), cannot)
		}
		if cannot != "" {
			return drills.BackendNative, "backend auto chose native: " + cannot, nil
		}
		return drills.BackendChaosMesh, "backend auto chose chaos-mesh: " + a.Reason, nil
	default:
		return "", "", fmt.Errorf("chaosmesh: fault %q: unknown backend %q (want auto, chaos-mesh or native)", spec.Name, backend)
	}
}

func kindOf(spec drills.Fault) string {
	if spec.ChaosMesh == nil {
		return "object"
	}
	return spec.ChaosMesh.Kind
}

// Select returns the registry that injects spec on the cluster of cfg and
// why it was chosen (see Choose). Detect runs only when the choice
// depends on it; its probe goes to the fault's namespace.
func Select(ctx context.Context, cfg *rest.Config, spec drills.Fault, target drills.Target, deps scenarios.Deps, opts ...Option) (*scenarios.Registry, string, error) {
	detect := func(ctx context.Context, ns string) Availability {
		var dopts []DetectOption
		if ns != "" {
			dopts = append(dopts, WithProbeNamespace(ns))
		}
		return Detect(ctx, cfg, dopts...)
	}
	return selectWith(ctx, cfg, spec, probeNamespace(spec, target), deps, detect, opts)
}

// probeNamespace is the fault's namespace unless it is protected ("" then).
func probeNamespace(spec drills.Fault, target drills.Target) string {
	ns := target.Namespace
	if spec.Selector != nil && spec.Selector.Namespace != "" {
		ns = spec.Selector.Namespace
	}
	if slices.Contains(scenarios.ProtectedNamespaces, ns) {
		return ""
	}
	return ns
}

func selectWith(ctx context.Context, cfg *rest.Config, spec drills.Fault, ns string, deps scenarios.Deps, detect func(context.Context, string) Availability, opts []Option) (*scenarios.Registry, string, error) {
	if spec.Backend == drills.BackendNative {
		return scenarios.NewNativeRegistry(deps), "backend native was asked for", nil
	}
	var a Availability
	if slices.Contains(Types, spec.Type) {
		a = detect(ctx, ns)
	}
	backend, reason, err := Choose(spec, a)
	if err != nil {
		return nil, "", err
	}
	if backend == drills.BackendNative {
		return scenarios.NewNativeRegistry(deps), reason, nil
	}
	c, err := NewClient(cfg)
	if err != nil {
		return nil, "", err
	}
	reg, err := NewRegistry(deps, c, opts...)
	if err != nil {
		return nil, "", err
	}
	return reg, reason, nil
}

// Backends returns a chooser of the backend of each fault of a drill on
// the cluster of cfg, in the form the runner takes (runner.Backends):
// Select with deps, its detection reused for 30 seconds per namespace.
func Backends(cfg *rest.Config, deps scenarios.Deps, opts ...Option) func(context.Context, drills.Fault) (*scenarios.Registry, string, error) {
	type cached struct {
		at time.Time
		a  Availability
	}
	var mu sync.Mutex
	cache := map[string]cached{}
	detect := func(ctx context.Context, ns string) Availability {
		mu.Lock()
		defer mu.Unlock()
		if c, ok := cache[ns]; ok && time.Since(c.at) < 30*time.Second {
			return c.a
		}
		var dopts []DetectOption
		if ns != "" {
			dopts = append(dopts, WithProbeNamespace(ns))
		}
		a := Detect(ctx, cfg, dopts...)
		cache[ns] = cached{at: time.Now(), a: a}
		return a
	}
	return func(ctx context.Context, spec drills.Fault) (*scenarios.Registry, string, error) {
		return selectWith(ctx, cfg, spec, probeNamespace(spec, drills.Target{}), deps, detect, opts)
	}
}
