package runner

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
	"github.com/firedrill/firedrill/engine/signals"
	"github.com/firedrill/firedrill/runner/traffic"
)

// baseline starts the traffic, waits until the SLOs hold over a full SLO
// window before any fault and the engine's rules are quiet, then starts the
// engine and waits until each of its signal units has evaluated for real
// (not held) twice. If that does not happen within the phase's timeout, or
// the engine sees an anomaly already, the drill is inconclusive: a fault
// cannot be judged against a target that was not healthy to begin with.
func (run *Run) baseline(ctx context.Context) error {
	d := run.drill
	if tr := d.Spec.Traffic; tr != nil {
		gen, err := traffic.New(run.targets, *tr, traffic.WithLogger(run.r.log))
		if err != nil {
			return fmt.Errorf("traffic: %w", err)
		}
		run.gen = gen
		tctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		run.stopTraf = cancel
		run.trafDone = make(chan struct{})
		go func() {
			defer close(run.trafDone)
			_ = gen.Run(tctx)
		}()
		run.event(drills.EventNote, run.r.now(), fmt.Sprintf("traffic started: %g requests/s at Service %s", gen.Rate(), d.Spec.Target.Service), nil)
	}
	start := run.r.now()
	// A full SLO window of settled traffic is needed before judging.
	need := start.Add(d.Spec.SLO.Window.Duration + run.settleLag())
	if run.gen == nil {
		need = start
	}
	// The engine starts only once the SLOs hold and its PromQL rules are
	// quiet: the metrics may still show an earlier drill's fault (a rate
	// over 15 s outlives the fault by 15 s), and an engine that started
	// then would "roll back" the healthy release to the bad one.
	var last healthPoint
	var loud string
	var detectErr error
	for {
		now := run.r.now()
		if !now.Before(need) {
			last = run.evalHealth(ctx)
			if ctx.Err() != nil {
				break
			}
			run.health.add(last)
			loud = ""
			if detectErr = run.resolveSignals(ctx); detectErr != nil && !errors.Is(detectErr, signals.ErrNoMetrics) {
				return fmt.Errorf("target metrics: %w", detectErr)
			}
			if last.OK && run.guard && detectErr == nil {
				loud = run.rulesFiring(ctx)
			}
			if last.OK && loud == "" && detectErr == nil {
				break
			}
		}
		if err := run.sleep(ctx); err != nil {
			switch {
			case detectErr != nil:
				return fmt.Errorf("target metrics: %w", detectErr)
			case ctx.Err() != nil && last.At.IsZero():
				return inconclusive("the baseline could not be measured before the baseline timeout")
			case !last.OK:
				return inconclusive("the SLOs did not hold before any fault: %s", last.why())
			default:
				return inconclusive("the engine's rules still fired before any fault: %s", loud)
			}
		}
	}
	if detectErr != nil {
		return fmt.Errorf("target metrics: %w", detectErr)
	}
	if run.guard {
		if err := run.startGuard(ctx); err != nil {
			return err
		}
		// Held evaluations (no data, stale data, low traffic) are no
		// evaluations: every signal unit must have judged for real.
		for {
			ok, why := run.cov.ready(2)
			if ok {
				break
			}
			if err := run.sleep(ctx); err != nil {
				if why == "" {
					return inconclusive("the engine did not start evaluating before the baseline timeout")
				}
				return inconclusive("the engine's signals could not evaluate before any fault: %s", why)
			}
		}
	}
	if dets := run.detections(); len(dets) > 0 {
		return inconclusive("the engine saw an anomaly before any fault (%s)", dets[0].Time.Format(time.RFC3339))
	}
	run.event(drills.EventNote, run.r.now(), fmt.Sprintf("baseline holds: error rate %.2f%%, p99 %s over %d requests",
		100*last.ErrRate, last.P99.Round(time.Millisecond), last.Requests), nil)
	return nil
}

// rulesFiring evaluates the guard's PromQL rules once, as if their for
// windows were over, and names those that breach their threshold now ("" when
// none does, or the drill has no rules or no Prometheus).
func (run *Run) rulesFiring(ctx context.Context) string {
	g := run.drill.Spec.Guard
	if run.prom == nil || g == nil || len(g.Rules) == 0 {
		return ""
	}
	now := *g
	now.Rules = nil
	for _, r := range g.Rules {
		r.For = nil
		now.Rules = append(now.Rules, r)
	}
	obs := engine.NewRuleSignal(run.prom, now, g.RequestRateExpr).Observe(ctx, run.r.now())
	var names []string
	for _, e := range obs.Evidence {
		names = append(names, e.Source)
	}
	return strings.Join(names, ", ")
}

// sleep waits one tick, reporting progress about every 5 s.
func (run *Run) sleep(ctx context.Context) error {
	t := time.NewTimer(run.r.tick)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
	}
	run.ticks++
	if run.ticks%5 == 0 {
		run.report("")
	}
	return nil
}
