package engine

import (
	"context"
	"time"
)

// Signal produces evidence each interval: a source of signs of an anomaly
// (PromQL rules, Kubernetes state).
type Signal interface {
	// Name of the signal, for logs.
	Name() string
	// Observe evaluates the signal at now.
	Observe(ctx context.Context, now time.Time) Observation
}

// Observation is what one signal saw at one evaluation.
type Observation struct {
	// Evidence are the signs of an anomaly that fire now.
	Evidence []Evidence
	// Hold lists why the signal could not judge (no data, stale data, low
	// traffic, query errors). A signal on hold neither passes nor fails:
	// it never acts by itself, and it does not count as clear when the
	// engine verifies a recovery.
	Hold []string
}

// Clear reports whether the observation shows neither evidence nor hold.
func (o Observation) Clear() bool { return len(o.Evidence) == 0 && len(o.Hold) == 0 }

// merge adds o2 to o.
func (o *Observation) merge(o2 Observation) {
	o.Evidence = append(o.Evidence, o2.Evidence...)
	o.Hold = append(o.Hold, o2.Hold...)
}
