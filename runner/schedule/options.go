package schedule

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/firedrill/firedrill/drills"
)

// MissedRunPolicy says what Run does, when it starts, with runs that fell due
// while the scheduler was not running.
type MissedRunPolicy string

// Missed-run policies.
const (
	// MissedRunSkip leaves missed runs out: they are logged and counted in
	// firedrill_schedule_skipped_total{reason="missed"} and the drill waits
	// for its next scheduled time. This is the default.
	MissedRunSkip MissedRunPolicy = "skip"
	// MissedRunOnce runs a drill once, right at start, if at least one of its
	// scheduled times passed since its last recorded run (and, with a
	// starting deadline, not longer ago than the deadline).
	MissedRunOnce MissedRunPolicy = "run-once"
)

// ParseMissedRunPolicy turns a flag value into a MissedRunPolicy.
func ParseMissedRunPolicy(s string) (MissedRunPolicy, error) {
	switch p := MissedRunPolicy(s); p {
	case MissedRunSkip, MissedRunOnce:
		return p, nil
	}
	return "", fmt.Errorf("schedule: unknown missed-run policy %q (want %s or %s)", s, MissedRunSkip, MissedRunOnce)
}

// Option configures a Scheduler.
type Option func(*Scheduler)

// WithRunsDir keeps the history of runs in dir: each finished run is written
// to dir/<drill>/<start>-<run ID>.json and trimmed to the drill's
// historyLimit. Without it nothing is written and no run counts as missed.
func WithRunsDir(dir string) Option { return func(s *Scheduler) { s.runsDir = dir } }

// WithLogger sets where the scheduler logs; the default discards.
func WithLogger(l *slog.Logger) Option {
	return func(s *Scheduler) {
		if l != nil {
			s.log = l
		}
	}
}

// WithRegistry registers the scheduler's metrics in reg instead of a registry
// of its own, so that one endpoint can serve them beside others.
func WithRegistry(reg *prometheus.Registry) Option {
	return func(s *Scheduler) {
		if reg != nil {
			s.reg = reg
		}
	}
}

// WithMissedRunPolicy sets what happens at start with runs missed while the
// scheduler was down; the default is MissedRunSkip.
func WithMissedRunPolicy(p MissedRunPolicy) Option { return func(s *Scheduler) { s.missed = p } }

// WithStartingDeadline bounds how late a missed run may still start: with
// MissedRunOnce a drill whose missed time is older than d is not run (it is
// counted with reason "deadline-exceeded"). Zero, the default, means no
// bound.
func WithStartingDeadline(d time.Duration) Option { return func(s *Scheduler) { s.deadline = d } }

// WithGracePeriod sets how long Run, once its context has ended, waits for
// running drills before it cancels their contexts (with cause ErrShutdown)
// and waits for them to return. Without this option Run waits for running
// drills however long they take; zero cancels them at once.
func WithGracePeriod(d time.Duration) Option {
	return func(s *Scheduler) { s.grace = &d }
}

// WithOnResult calls fn after every finished run, once its result has been
// written. The result is never nil: a run that returned only an error gets a
// result with verdict "error". fn must not block for long.
func WithOnResult(fn func(d *drills.Drill, r *drills.Result)) Option {
	return func(s *Scheduler) { s.onResult = fn }
}

// WithClock replaces time.Now for the times the scheduler decides and
// records itself: the missed-run check at start and the start and finish of
// a run whose result leaves them unset. When cron fires is always real time.
// It is meant for tests.
func WithClock(now func() time.Time) Option {
	return func(s *Scheduler) {
		if now != nil {
			s.now = now
		}
	}
}

// WithLocation sets the time zone cron expressions are read in; the default
// is the local time zone.
func WithLocation(loc *time.Location) Option {
	return func(s *Scheduler) {
		if loc != nil {
			s.loc = loc
		}
	}
}
