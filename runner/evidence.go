package runner

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/firedrill/firedrill/scenarios"
)

// trafficEvidence gives the faults what the run's traffic measured per pod
// IP (scenarios.TrafficEvidence). Faults are built in preflight, before
// the traffic starts in baseline, so it reads the generator when asked.
type trafficEvidence struct{ run *Run }

// Endpoint counts the requests sent to ip in [from, to).
func (e trafficEvidence) Endpoint(ip string, from, to time.Time) scenarios.EndpointCounts {
	gen := e.run.gen
	if gen == nil {
		return scenarios.EndpointCounts{}
	}
	c := gen.Stats().Endpoint(ip, from, to)
	return scenarios.EndpointCounts{
		Sent: c.Sent, Pending: c.Pending, Succeeded: c.Succeeded,
		Failed: c.Failed, TimedOut: c.TimedOut, Transport: c.Transport,
		FirstSuccess: c.FirstSuccess, LastSuccess: c.LastSuccess,
		FirstFailure: c.FirstFailure, LastFailure: c.LastFailure,
	}
}

// invariants runs the drill's consistency checks for the faults
// (scenarios.Invariants), on connections of their own.
type invariants struct{ run *Run }

// Violated returns the checks that do not hold; a check that cannot run is
// an error only when no other check is violated.
func (i invariants) Violated(ctx context.Context) ([]string, error) {
	var out []string
	var errs []error
	for _, c := range i.run.drill.Spec.SLO.Consistency {
		ok, observed, err := i.run.consistencyOn(ctx, c, &i.run.proofConns)
		switch {
		case err != nil:
			errs = append(errs, fmt.Errorf("check %s: %w", c.Name, err))
		case !ok:
			out = append(out, c.Name+": "+observed)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	return nil, errors.Join(errs...)
}
