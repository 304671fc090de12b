package engine

import (
	"context"
	"strings"
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
	// Units say, per signal unit, whether this evaluation judged (clear or
	// firing) or held, and why. A signal with several units (RuleSignal:
	// one per rule) fills it; for a signal that leaves it empty the Guard
	// derives one unit named after the signal from Evidence and Hold.
	Units []UnitReport
}

// UnitState is what one evaluation of a signal unit amounted to.
type UnitState string

// Unit states.
const (
	// UnitClear: the unit evaluated and saw nothing wrong (a rule that is
	// pending, breaching but not yet for its whole for window, is clear).
	UnitClear UnitState = "clear"
	// UnitFiring: the unit evaluated and produced evidence.
	UnitFiring UnitState = "firing"
	// UnitHeld: the unit could not judge (no data, stale data, low
	// traffic, query errors).
	UnitHeld UnitState = "held"
)

// UnitReport is one evaluation of one signal unit: a PromQL rule ("rule
// <name>"), the Kubernetes signals ("kubernetes"), the statistical test
// ("sequential") or another signal by its Name.
type UnitReport struct {
	// Name of the unit.
	Name string
	// State of the unit at this evaluation.
	State UnitState
	// Reason the unit held (only for UnitHeld), e.g. "no data".
	Reason string
}

// unitOf derives the one unit of a signal that does not report its own
// units: evidence is firing, a hold is held, anything else clear.
func unitOf(name string, o Observation) UnitReport {
	switch {
	case len(o.Evidence) > 0:
		return UnitReport{Name: name, State: UnitFiring}
	case len(o.Hold) > 0:
		return UnitReport{Name: name, State: UnitHeld, Reason: strings.Join(o.Hold, "; ")}
	}
	return UnitReport{Name: name, State: UnitClear}
}

// Clear reports whether the observation shows neither evidence nor hold.
func (o Observation) Clear() bool { return len(o.Evidence) == 0 && len(o.Hold) == 0 }

// merge adds o2 to o.
func (o *Observation) merge(o2 Observation) {
	o.Evidence = append(o.Evidence, o2.Evidence...)
	o.Hold = append(o.Hold, o2.Hold...)
	o.Units = append(o.Units, o2.Units...)
}
