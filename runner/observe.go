package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/scenarios"
)

// proofPoll is how often observe asks each fault whether it took effect: a
// guarded target may be repaired within seconds, so the proof is looked
// for much more often than the SLOs.
const proofPoll = 250 * time.Millisecond

// observe watches the target after the faults went in: it proves each
// fault took effect, removes faults whose duration is over, records the
// SLO state every tick, and ends once the target is healthy again after
// the fault's impact (or, for a fault with no visible impact, after the
// minimum observation time). Running out of time is not an error here:
// verify judges what was reached.
func (run *Run) observe(ctx context.Context) error {
	d := run.drill
	minObs := run.r.minObserve
	if minObs <= 0 {
		minObs = d.Spec.SLO.Window.Duration + d.Spec.SLO.Stability.Duration
	}
	pctx, stopProof := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { run.prove(pctx) })
	defer func() { stopProof(); wg.Wait() }()

	for {
		if err := run.removeDue(ctx); err != nil {
			return err
		}
		p := run.evalHealth(ctx)
		if ctx.Err() != nil {
			break
		}
		run.health.add(p)
		if !p.OK && !p.breachAt().Before(run.injected) && !run.sawImpact {
			run.sawImpact = true
			run.event(drills.EventNote, p.breachAt(), "SLO breached: "+p.why(), map[string]string{"slo": "breached"})
		}
		if len(run.detections()) > 0 {
			run.sawImpact = true
		}
		elapsed := run.r.now().Sub(run.injected)
		settled := elapsed > run.settleLag()+run.r.tick
		if p.OK && settled && run.judgedAfterFault(p) && run.allProven() && !run.timedPending() && (run.sawImpact || elapsed >= minObs) {
			if run.sawImpact {
				run.event(drills.EventRecovery, run.recoveredAt(), "SLOs hold again", nil)
			}
			break
		}
		if err := run.sleep(ctx); err != nil {
			break
		}
	}
	stopProof()
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if ctx.Err() != nil {
		run.event(drills.EventNote, run.r.now(), "observe timed out before the SLOs held again", nil)
	}
	// Faults that never showed an effect make the drill inconclusive: a
	// fault that silently did nothing must not pass.
	var unproven []string
	for _, f := range run.faults {
		if !f.proven {
			msg := f.lastProof.Message
			if msg == "" {
				msg = "no effect observed"
			}
			unproven = append(unproven, fmt.Sprintf("%s (%s)", f.spec.Name, msg))
			run.check(drills.Check{Name: "fault " + f.spec.Name + " took effect", Kind: drills.CheckProof,
				Expected: "the fault's effect is observed", Observed: msg, Verdict: drills.VerdictInconclusive})
		}
	}
	if len(unproven) > 0 {
		return inconclusive("could not prove the fault took effect: %s", strings.Join(unproven, "; "))
	}
	return nil
}

// judgedAfterFault reports whether p judged a whole SLO window after the
// first fault's injection: until then the window still holds healthy
// traffic from before the fault, and an error rate that is only starting
// to rise looks fine.
func (run *Run) judgedAfterFault(p healthPoint) bool {
	if run.gen == nil {
		return !p.Now.Before(run.injected)
	}
	return !p.At.Add(-run.drill.Spec.SLO.Window.Duration).Before(run.injected)
}

// recoveredAt is when the current healthy streak counts as a recovery: its
// start, but never before the first SLO window that lies wholly after the
// fault, since nothing before that judged the faulted target.
func (run *Run) recoveredAt() time.Time {
	at, _ := run.health.healthySince()
	earliest := run.injected
	if run.gen != nil {
		earliest = earliest.Add(run.drill.Spec.SLO.Window.Duration)
	}
	if at.Before(earliest) {
		return earliest
	}
	return at
}

// prove polls every fault's Status until each took effect once.
func (run *Run) prove(ctx context.Context) {
	t := time.NewTicker(proofPoll)
	defer t.Stop()
	for {
		all := true
		for _, f := range run.faults {
			run.mu.Lock()
			done := f.proven
			run.mu.Unlock()
			if done {
				continue
			}
			all = false
			st, err := f.fault.Status(ctx)
			if err != nil {
				if ctx.Err() != nil {
					return
				}
				st.Message = "status: " + err.Error()
			}
			run.mu.Lock()
			if errors.Is(err, scenarios.ErrNotInjected) && f.lastProof.Message != "" {
				// Removed at the end of its duration: what it showed
				// while it was in stays the last word.
				run.mu.Unlock()
				continue
			}
			f.lastProof = st
			if st.Effective {
				f.proven, f.proof, f.provenAt = true, st, run.r.now()
			}
			run.mu.Unlock()
			if st.Effective {
				attrs := map[string]string{"fault": f.spec.Name}
				for i, e := range st.Evidence {
					attrs[fmt.Sprintf("evidence.%d", i)] = e
				}
				run.event(drills.EventProof, f.provenAt, fmt.Sprintf("fault %s took effect: %s", f.spec.Name, st.Message), attrs)
				run.check(drills.Check{Name: "fault " + f.spec.Name + " took effect", Kind: drills.CheckProof,
					Expected: "the fault's effect is observed", Observed: st.Message, Verdict: drills.VerdictPassed,
					Message: strings.Join(st.Evidence, "; ")})
			}
		}
		if all {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (run *Run) allProven() bool {
	run.mu.Lock()
	defer run.mu.Unlock()
	for _, f := range run.faults {
		if !f.proven {
			return false
		}
	}
	return true
}

// timedPending reports a fault with a duration that is still in.
func (run *Run) timedPending() bool {
	for _, f := range run.faults {
		if !f.removeAt.IsZero() && !f.removed {
			return true
		}
	}
	return false
}

// removeDue removes the faults whose duration is over.
func (run *Run) removeDue(ctx context.Context) error {
	now := run.r.now()
	for _, f := range run.faults {
		if f.removeAt.IsZero() || f.removed || now.Before(f.removeAt) {
			continue
		}
		if err := run.remove(ctx, f, "its duration is over"); err != nil {
			return err
		}
	}
	return nil
}

// remove takes one fault out and records it.
func (run *Run) remove(ctx context.Context, f *injected, why string) error {
	// What Remove writes back on the target is the drill's too (e.g.
	// bad-image drops its push annotation with the image).
	pre := run.targetNow(ctx)
	err := f.fault.Remove(ctx)
	run.written.addDiff(pre, run.targetNow(ctx))
	if err != nil {
		return fmt.Errorf("fault %s: remove: %w", f.spec.Name, err)
	}
	f.removed = true
	run.event(drills.EventFaultGone, run.r.now(), fmt.Sprintf("fault %s removed (%s)", f.spec.Name, why),
		map[string]string{"fault": f.spec.Name})
	return nil
}
