package scenarios

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"

	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
)

// Deps are what faults need from their surroundings.
type Deps struct {
	// Client talks to the cluster.
	Client kubernetes.Interface
	// Rand chooses pods when a fault has no seed of its own (default:
	// seeded from the fault's name, so that runs are reproducible).
	Rand *rand.Rand
	// Logger gets progress (default: none).
	Logger *slog.Logger
	// Owner is written as the firedrill.dev/drill annotation (default
	// "firedrill").
	Owner string
	// TTL is added to the fault's duration to get its expiry (default 1h).
	TTL time.Duration
	// DryRun makes Inject report its changes without applying them.
	DryRun bool
	// MaxShare is the blast-radius limit: the largest share (0..1] of the
	// selectable pods a fault may hit (default 1).
	MaxShare float64
	// Exec runs commands (default: os/exec).
	Exec Runner
	// Netns finds a process inside a pod's network namespace (default:
	// scanning /proc for the pod's cgroup).
	Netns NetnsFinder
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Traffic is what the drill's traffic measured per pod IP, the
	// evidence for network, kill and bad-release faults (nil: the drill
	// sends no traffic, and proofs that need it stay unproven).
	Traffic TrafficEvidence
	// Invariants are the drill's data-consistency checks, the evidence
	// for data-corruption (nil: none).
	Invariants Invariants
}

func (d Deps) withDefaults() Deps {
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.Owner == "" {
		d.Owner = "firedrill"
	}
	if d.TTL <= 0 {
		d.TTL = time.Hour
	}
	if d.MaxShare <= 0 {
		d.MaxShare = 1
	}
	if d.Exec == nil {
		d.Exec = ExecRunner{}
	}
	if d.Netns == nil {
		d.Netns = ProcNetns{}
	}
	if d.Now == nil {
		d.Now = time.Now
	}
	return d
}

// rng returns the random source for spec: its own seed, else Deps.Rand,
// else one seeded from the fault's name and type.
func (d Deps) rng(spec drills.Fault) *rand.Rand {
	if spec.Seed != nil {
		return rand.New(rand.NewPCG(uint64(*spec.Seed), 0x6669726564726c6c))
	}
	if d.Rand != nil {
		return d.Rand
	}
	h := fnv.New64a()
	_, _ = h.Write([]byte(d.Owner + "/" + spec.Name + "/" + string(spec.Type)))
	return rand.New(rand.NewPCG(h.Sum64(), 0x6669726564726c6c))
}

// meta is the owner and expiry for a fault injected now.
func (d Deps) meta(spec drills.Fault) ownerMeta {
	exp := d.Now().Add(d.TTL)
	if spec.Duration != nil {
		exp = exp.Add(spec.Duration.Duration)
	}
	return ownerMeta{owner: d.Owner, expires: exp}
}

// Factory builds a Fault of one type.
type Factory interface {
	// Build checks spec and returns the fault; it changes nothing.
	Build(ctx context.Context, spec drills.Fault, target drills.Target, deps Deps) (Fault, error)
}

// FactoryFunc adapts a function to Factory.
type FactoryFunc func(ctx context.Context, spec drills.Fault, target drills.Target, deps Deps) (Fault, error)

// Build calls f.
func (f FactoryFunc) Build(ctx context.Context, spec drills.Fault, target drills.Target, deps Deps) (Fault, error) {
	return f(ctx, spec, target, deps)
}

// Registry maps fault types to the factories of one backend. It is filled
// explicitly (NewNativeRegistry or Register); an unknown type is an error.
type Registry struct {
	backend   drills.Backend
	deps      Deps
	factories map[drills.FaultType]Factory
}

// NewRegistry returns an empty registry for backend.
func NewRegistry(backend drills.Backend, deps Deps) *Registry {
	return &Registry{backend: backend, deps: deps.withDefaults(), factories: map[drills.FaultType]Factory{}}
}

// Register adds the factory for t; registering a type twice is an error.
func (r *Registry) Register(t drills.FaultType, f Factory) error {
	if f == nil {
		return fmt.Errorf("scenarios: %s backend: nil factory for %s", r.backend, t)
	}
	if _, ok := r.factories[t]; ok {
		return fmt.Errorf("scenarios: %s backend: fault type %s registered twice", r.backend, t)
	}
	r.factories[t] = f
	return nil
}

// Backend is the registry's backend.
func (r *Registry) Backend() drills.Backend { return r.backend }

// Types lists the registered fault types in drills.FaultTypes order.
func (r *Registry) Types() []drills.FaultType {
	var out []drills.FaultType
	for t := range r.factories {
		out = append(out, t)
	}
	slices.SortFunc(out, func(a, b drills.FaultType) int {
		return slices.Index(drills.FaultTypes, a) - slices.Index(drills.FaultTypes, b)
	})
	return out
}

// WithOwner returns a copy of the registry whose faults carry owner as
// their firedrill.dev/drill annotation (the Sweeper's Owner): a drill
// runner names each drill's faults so that its next run can sweep what a
// crashed run left, and only that.
func (r *Registry) WithOwner(owner string) *Registry {
	c := *r
	if owner != "" {
		c.deps.Owner = owner
	}
	return &c
}

// WithTraffic returns a copy of the registry whose faults prove their
// effect with ev, the drill's traffic measured per pod IP.
func (r *Registry) WithTraffic(ev TrafficEvidence) *Registry {
	c := *r
	c.deps.Traffic = ev
	return &c
}

// WithInvariants returns a copy of the registry whose data faults prove
// their effect by the drill's consistency checks turning false.
func (r *Registry) WithInvariants(inv Invariants) *Registry {
	c := *r
	c.deps.Invariants = inv
	return &c
}

// Owner is the owner the registry's faults carry.
func (r *Registry) Owner() string { return r.deps.Owner }

// Build returns the fault for spec against target.
func (r *Registry) Build(ctx context.Context, spec drills.Fault, target drills.Target) (Fault, error) {
	f, ok := r.factories[spec.Type]
	if !ok {
		return nil, fmt.Errorf("scenarios: %s backend has no fault type %q (known: %v)", r.backend, spec.Type, r.Types())
	}
	if spec.Name == "" {
		spec.Name = string(spec.Type)
	}
	return f.Build(ctx, spec, target, r.deps)
}

// NewNativeRegistry returns the native backend: faults made with the
// Kubernetes API, SQL and the pods' network namespaces, without Chaos Mesh.
// network-delay and chaos-mesh are registered as unsupported (their Build
// fails with ErrUnsupported) rather than left unknown.
func NewNativeRegistry(deps Deps) *Registry {
	r := NewRegistry(drills.BackendNative, deps)
	for t, f := range map[drills.FaultType]Factory{
		drills.FaultPodKill:          FactoryFunc(newPodKill),
		drills.FaultBadImage:         FactoryFunc(newBadImage),
		drills.FaultBadConfig:        FactoryFunc(newBadConfig),
		drills.FaultDataCorruption:   FactoryFunc(newDataCorruption),
		drills.FaultNetworkPartition: FactoryFunc(newNetworkFault),
		drills.FaultNetworkLoss:      FactoryFunc(newNetworkFault),
		drills.FaultBandwidth:        FactoryFunc(newNetworkFault),
		drills.FaultNetworkDelay:     unsupported("network-delay needs netem, which this kernel lacks: use the Chaos Mesh backend"),
		drills.FaultChaosMesh:        unsupported("chaos-mesh faults need the Chaos Mesh backend"),
	} {
		_ = r.Register(t, f) // distinct keys: cannot fail
	}
	return r
}

func unsupported(reason string) Factory {
	return FactoryFunc(func(_ context.Context, spec drills.Fault, _ drills.Target, _ Deps) (Fault, error) {
		return nil, &UnsupportedError{Type: spec.Type, Reason: reason}
	})
}
