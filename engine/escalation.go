package engine

import (
	"errors"
	"fmt"
	"time"

	"k8s.io/utils/clock"

	"github.com/firedrill/firedrill/drills"
)

// Escalation errors.
var (
	// ErrHandedOver: the incident is with a human; the engine does no more.
	ErrHandedOver = errors.New("escalation: incident handed over to a human")
	// ErrExhausted: every strategy was tried and there is no human
	// strategy to hand over to.
	ErrExhausted = errors.New("escalation: no strategy left and no human strategy")
	// ErrNoAnomaly: the decision asks for no action.
	ErrNoAnomaly = errors.New("escalation: decision asks for no action")
)

// CooldownError means the cooldown since the last action has not passed.
type CooldownError struct {
	// Remaining is how long until the next action may run.
	Remaining time.Duration
}

func (e *CooldownError) Error() string {
	return fmt.Sprintf("escalation: cooldown, next action in %s", e.Remaining)
}

// Escalation walks the guard's strategies for one incident. Each call to
// Next, made when the previous action did not restore the SLOs (or on the
// first decision), returns the strategy for the decision's action:
//
//   - rollback: the next strategy of the full chain, in order of
//     preference;
//   - partial-rollback: the first listed strategy that can act partially
//     (ActsPartially; today shrink), once per incident. The guard then
//     re-judges: a later rollback decision continues with the full chain,
//     a later partial decision (the partial action did not restore the
//     SLOs, and the score is still short of rollbackAt) hands over to the
//     human. With no strategy that can act partially, a partial decision
//     hands over to the human at once: the engine never does more than the
//     confidence allows;
//   - require-human: the human strategy.
//
// The human strategy is the last resort wherever it is listed. Escalation
// enforces the cooldown between automated actions and hands over to the
// human after maxAttempts automated actions. The hand-over is never held
// back by the cooldown. It is not safe for concurrent use.
type Escalation struct {
	auto        []Strategy
	human       Strategy
	cooldown    time.Duration
	maxAttempts int
	clock       clock.PassiveClock

	next        int
	attempts    int
	last        time.Time
	handedOver  bool
	partialDone bool
}

// NewEscalation builds the escalation over strategies (in order) with the
// guard's cooldown and maxAttempts; clk is the time source (nil: the real
// clock).
func NewEscalation(strategies []Strategy, cooldown time.Duration, maxAttempts int, clk clock.PassiveClock) (*Escalation, error) {
	if maxAttempts < 1 {
		return nil, fmt.Errorf("escalation: maxAttempts must be at least 1, got %d", maxAttempts)
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	e := &Escalation{cooldown: cooldown, maxAttempts: maxAttempts, clock: clk}
	for _, s := range strategies {
		if s.Name() == drills.StrategyHuman {
			if e.human != nil {
				return nil, fmt.Errorf("escalation: human strategy listed twice")
			}
			e.human = s
			continue
		}
		e.auto = append(e.auto, s)
	}
	return e, nil
}

// NewGuardEscalation is NewEscalation with the guard's cooldown and
// maxAttempts (defaults when unset).
func NewGuardEscalation(g drills.Guard, strategies []Strategy, clk clock.PassiveClock) (*Escalation, error) {
	attempts := g.MaxAttempts
	if attempts == 0 {
		attempts = drills.DefaultMaxAttempts
	}
	return NewEscalation(strategies, g.Cooldown.Get(drills.DefaultCooldown), attempts, clk)
}

// Next returns the strategy to run now for decision d. Errors:
// *CooldownError when an automated action ran less than the cooldown ago,
// ErrHandedOver once the human strategy was returned, ErrExhausted when no
// strategy is left, ErrNoAnomaly for an ActionNone decision.
func (e *Escalation) Next(d Decision) (Strategy, error) {
	if e.handedOver {
		return nil, ErrHandedOver
	}
	if d.Action == ActionNone || d.Action == "" {
		return nil, ErrNoAnomaly
	}
	now := e.clock.Now()
	partial := -1
	if d.Action == ActionPartialRollback && !e.partialDone {
		for i, s := range e.auto {
			if ActsPartially(s) {
				partial = i
				break
			}
		}
	}
	handOver := d.Action == ActionRequireHuman || e.attempts >= e.maxAttempts ||
		(d.Action == ActionPartialRollback && partial < 0) ||
		(d.Action != ActionPartialRollback && e.next >= len(e.auto))
	if handOver {
		if e.human == nil {
			return nil, ErrExhausted
		}
		e.handedOver, e.last = true, now
		return e.human, nil
	}
	if !e.last.IsZero() {
		if wait := e.last.Add(e.cooldown).Sub(now); wait > 0 {
			return nil, &CooldownError{Remaining: wait}
		}
	}
	var s Strategy
	if d.Action == ActionPartialRollback {
		s, e.partialDone = e.auto[partial], true
	} else {
		s = e.auto[e.next]
		e.next++
	}
	e.attempts++
	e.last = now
	return s, nil
}

// Attempts is how many automated actions were returned for this incident.
func (e *Escalation) Attempts() int { return e.attempts }

// HandedOver reports whether the incident went to the human strategy.
func (e *Escalation) HandedOver() bool { return e.handedOver }

// Reset starts a new incident (the previous one recovered); the cooldown
// since the last action still applies.
func (e *Escalation) Reset() {
	e.next, e.attempts, e.handedOver, e.partialDone = 0, 0, false, false
}
