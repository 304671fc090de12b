package schedule

import (
	"path/filepath"
	"time"

	"github.com/robfig/cron/v3"
)

// missedRun looks for a scheduled time of sched after last (the last run)
// and not after now. It returns the first such time, or the zero time if
// none was missed. With a positive deadline only times within deadline of
// now count; late reports that runs were missed but all longer ago than
// that.
func missedRun(sched cron.Schedule, last, now time.Time, deadline time.Duration) (due time.Time, late bool) {
	first := sched.Next(last)
	if first.IsZero() || first.After(now) {
		return time.Time{}, false
	}
	if deadline <= 0 {
		return first, false
	}
	from := now.Add(-deadline)
	if !from.After(last) {
		return first, false
	}
	// The first scheduled time at or after from.
	due = sched.Next(from.Add(-time.Nanosecond))
	if due.IsZero() || due.After(now) {
		return first, true
	}
	return due, false
}

// catchUp applies the missed-run policy to e when the scheduler starts (or
// when e is added to a running scheduler).
func (s *Scheduler) catchUp(e *entry) {
	if s.runsDir == "" {
		return
	}
	last, ok, err := lastRunTime(filepath.Join(s.runsDir, e.name))
	if err != nil {
		s.log.Warn("cannot tell when the drill last ran; not checking for missed runs", "drill", e.name, "error", err)
		return
	}
	if !ok {
		return
	}
	now := s.now().In(s.loc)
	due, late := missedRun(e.sched, last.In(s.loc), now, s.deadline)
	switch {
	case due.IsZero():
		return
	case s.missed != MissedRunOnce:
		s.metrics.skipped.WithLabelValues(e.name, ReasonMissed).Inc()
		s.log.Info("drill run missed while the scheduler was down: skipped (missed-run policy skip)",
			"drill", e.name, "lastRun", last, "missed", due)
	case late:
		s.metrics.skipped.WithLabelValues(e.name, ReasonDeadlineExceeded).Inc()
		s.log.Info("missed drill run not started: older than the starting deadline",
			"drill", e.name, "lastRun", last, "missed", due, "startingDeadline", s.deadline.String())
	default:
		s.log.Info("drill run missed while the scheduler was down: running it once now",
			"drill", e.name, "lastRun", last, "missed", due)
		s.fire(e, "missed")
	}
}
