package scenarios

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// Fault is one injectable fault, built for one drill fault and target.
// Inject puts it in, Remove takes it out (restoring what Inject changed),
// Status proves whether it has taken effect.
type Fault interface {
	// Inject applies the fault, or with the DryRun option only reports
	// what it would change.
	Inject(ctx context.Context) (*Injection, error)
	// Remove undoes what Inject changed; it is safe to call more than once
	// and after a failed or partial Inject.
	Remove(ctx context.Context) error
	// Status reports whether the fault is in and has taken effect.
	Status(ctx context.Context) (Status, error)
	// Describe is a one-line human description of the fault.
	Describe() string
}

// Injection is what Inject did (or, in a dry run, would do).
type Injection struct {
	// Type of the fault.
	Type drills.FaultType
	// DryRun is true when nothing was changed.
	DryRun bool
	// At is when the fault went in.
	At time.Time
	// Targets are the pods (or objects) the fault hit.
	Targets []Target
	// Changes are the exact changes, in order.
	Changes []Change
}

// Target is one object a fault hit.
type Target struct {
	Kind      string
	Namespace string
	Name      string
	UID       string
	IP        string
}

func (t Target) String() string { return t.Kind + " " + t.Namespace + "/" + t.Name }

// Change is one change made to the cluster, a database or a pod's network
// namespace.
type Change struct {
	// Object changed, e.g. "Deployment firedrill-demo/payment",
	// "Pod firedrill-demo/payment-x (netns)".
	Object string
	// Action is delete, patch, exec or sql.
	Action string
	// Detail is the exact patch (JSON), command line or statement.
	Detail string
}

func (c Change) String() string { return c.Action + " " + c.Object + ": " + c.Detail }

// Status is the proof that a fault has taken effect.
type Status struct {
	// Injected is true between a successful Inject and Remove.
	Injected bool
	// Effective is true when the fault's effect is observed.
	Effective bool
	// Message says what was observed.
	Message string
	// Evidence are the observations behind Message.
	Evidence []string
}

// ErrUnsupported is matched (errors.Is) by errors for faults that a
// backend cannot inject on this cluster.
var ErrUnsupported = errors.New("unsupported fault")

// UnsupportedError says why a backend cannot inject a fault type.
type UnsupportedError struct {
	Type   drills.FaultType
	Reason string
}

func (e *UnsupportedError) Error() string {
	return fmt.Sprintf("scenarios: %s: %s", e.Type, e.Reason)
}

// Is makes errors.Is(err, ErrUnsupported) true.
func (e *UnsupportedError) Is(target error) bool { return target == ErrUnsupported }

// ErrNotInjected is returned by Status before Inject.
var ErrNotInjected = errors.New("scenarios: fault not injected")
