package runner

import (
	"context"
	"fmt"
	"time"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
)

// inject takes the snapshots the engine's restore strategies need (the
// hook before a risky change), then puts the faults in, in order, each
// after its delay.
func (run *Run) inject(ctx context.Context) error {
	d := run.drill
	if run.guard {
		n, err := engine.TakeSnapshots(ctx, *d.Spec.Guard)
		if err != nil {
			return fmt.Errorf("restore strategy: snapshot before the fault: %w", err)
		}
		if n > 0 {
			run.event(drills.EventNote, run.r.now(), "engine's restore snapshot taken before the fault", nil)
		}
	}
	start := run.r.now()
	for _, f := range run.faults {
		if f.spec.After != nil {
			if err := sleepUntil(ctx, start.Add(f.spec.After.Duration)); err != nil {
				return err
			}
		}
		f.attempted = true
		pre := run.targetNow(ctx)
		inj, err := f.fault.Inject(ctx)
		run.written.addDiff(pre, run.targetNow(ctx))
		if err != nil {
			// Inject may have changed part of the target: teardown
			// removes it (Remove is safe after a partial Inject).
			f.at = run.r.now()
			return fmt.Errorf("fault %s: inject: %w", f.spec.Name, err)
		}
		f.at = inj.At
		if f.at.IsZero() {
			f.at = run.r.now()
		}
		if f.spec.Duration != nil && f.spec.Duration.Duration > 0 {
			f.removeAt = f.at.Add(f.spec.Duration.Duration)
		}
		if run.injected.IsZero() {
			run.injected = f.at
		}
		attrs := map[string]string{"fault": f.spec.Name, "type": string(f.spec.Type), "backend": f.backend}
		for i, c := range inj.Changes {
			attrs[fmt.Sprintf("change.%d", i)] = c.String()
		}
		if len(inj.Targets) > 0 {
			attrs["targets"] = describeTargets(inj.Targets)
		}
		msg := fmt.Sprintf("fault %s injected: %s", f.spec.Name, f.fault.Describe())
		if len(inj.Targets) > 0 {
			msg += " on " + describeTargets(inj.Targets)
		}
		run.event(drills.EventFault, f.at, msg, attrs)
	}
	return nil
}

func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}
