package schedule

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// activeRun is a run that is pending or in progress.
type activeRun struct {
	id     string
	ctx    context.Context
	cancel context.CancelCauseFunc
	// done is closed once the run has finished and its result is written.
	done chan struct{}
}

type runIDKey struct{}

// RunID returns the ID the scheduler gave the run whose context is ctx, so
// that a RunFunc can use it as drills.Result.RunID and logs and history
// files agree. It returns "" outside a scheduled run.
func RunID(ctx context.Context) string {
	id, _ := ctx.Value(runIDKey{}).(string)
	return id
}

// fire is called by cron (trigger "schedule") and by the missed-run check
// (trigger "missed") when a run of e is due. It applies the concurrency
// policy and starts the run in its own goroutine.
func (s *Scheduler) fire(e *entry, trigger string) {
	s.mu.Lock()
	if s.stopping || s.base == nil {
		s.mu.Unlock()
		return
	}
	s.wg.Add(1)
	base := s.base
	s.mu.Unlock()

	e.mu.Lock()
	if e.policy == drills.ConcurrencyForbid && len(e.active) > 0 {
		running := e.active[0].id
		e.mu.Unlock()
		s.wg.Done()
		s.metrics.skipped.WithLabelValues(e.name, ReasonStillRunning).Inc()
		s.log.Info("drill run skipped: the previous run is still running (concurrencyPolicy Forbid)",
			"drill", e.name, "trigger", trigger, "running", running)
		return
	}
	var prev []*activeRun
	if e.policy == drills.ConcurrencyReplace {
		prev = slices.Clone(e.active)
		for _, p := range prev {
			p.cancel(ErrReplaced)
		}
	}
	id := newRunID()
	ctx, cancel := context.WithCancelCause(context.WithValue(base, runIDKey{}, id))
	r := &activeRun{id: id, ctx: ctx, cancel: cancel, done: make(chan struct{})}
	e.active = append(e.active, r)
	e.mu.Unlock()
	if len(prev) > 0 {
		s.log.Info("replacing the running run (concurrencyPolicy Replace)", "drill", e.name, "run", id, "replaced", prev[len(prev)-1].id)
	}

	go func() {
		defer s.wg.Done()
		defer s.finish(e, r)
		for _, p := range prev {
			<-p.done
		}
		if r.ctx.Err() != nil {
			// Replaced by a newer run, or shut down, before it started.
			if context.Cause(r.ctx) == ErrReplaced {
				s.metrics.skipped.WithLabelValues(e.name, ReasonReplaced).Inc()
			}
			s.log.Info("drill run dropped before it started", "drill", e.name, "run", id, "cause", context.Cause(r.ctx))
			return
		}
		s.execute(e, r, trigger)
	}()
}

// finish removes r from the active runs of e and marks it done.
func (s *Scheduler) finish(e *entry, r *activeRun) {
	e.mu.Lock()
	e.active = slices.DeleteFunc(e.active, func(a *activeRun) bool { return a == r })
	e.mu.Unlock()
	r.cancel(context.Canceled)
	close(r.done)
}

// execute calls the RunFunc, then records, writes and reports the result.
func (s *Scheduler) execute(e *entry, r *activeRun, trigger string) {
	running := s.metrics.running.WithLabelValues(e.name)
	running.Inc()
	s.log.Info("drill run starting", "drill", e.name, "run", r.id, "trigger", trigger, "concurrencyPolicy", string(e.policy))
	start := s.now()
	res, err := s.call(r.ctx, e.drill)
	end := s.now()
	running.Dec()

	res = complete(res, err, e.drill, r.id, start, end)
	s.metrics.runs.WithLabelValues(e.name, string(res.Verdict)).Inc()
	s.metrics.lastRun.WithLabelValues(e.name).Set(float64(res.Finished.UnixNano()) / 1e9)
	s.metrics.lastDuration.WithLabelValues(e.name).Set(res.Finished.Sub(res.Started).Seconds())

	attrs := []any{"drill", e.name, "run", res.RunID, "verdict", string(res.Verdict), "duration", res.Finished.Sub(res.Started).Round(time.Millisecond).String()}
	if res.Reason != "" {
		attrs = append(attrs, "reason", res.Reason)
	}
	if s.runsDir != "" {
		path, werr := s.writeRun(e, res)
		if werr != nil {
			s.log.Error("drill run finished but its result could not be written", append(attrs, "error", werr)...)
		} else {
			s.log.Info("drill run finished", append(attrs, "result", path)...)
		}
	} else {
		s.log.Info("drill run finished", attrs...)
	}
	if s.onResult != nil {
		s.onResult(e.drill, res)
	}
}

// call runs the RunFunc and turns a panic into an error, so that one bad run
// does not take the scheduler down.
func (s *Scheduler) call(ctx context.Context, d *drills.Drill) (res *drills.Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			res, err = nil, fmt.Errorf("schedule: run panicked: %v", p)
		}
	}()
	return s.run(ctx, d)
}

// complete fills what the RunFunc left unset so that every run leaves a
// whole result: one that returned only an error gets verdict "error".
func complete(res *drills.Result, err error, d *drills.Drill, id string, start, end time.Time) *drills.Result {
	if res == nil {
		res = &drills.Result{GuardEnabled: d.GuardEnabled(), Phases: []drills.PhaseResult{}, Checks: []drills.Check{}}
	}
	if res.SchemaVersion == "" {
		res.SchemaVersion = drills.ResultSchemaVersion
	}
	if res.Drill == "" {
		res.Drill = d.Metadata.Name
	}
	if res.Source == "" {
		res.Source = d.Source()
	}
	if res.RunID == "" {
		res.RunID = id
	}
	if res.Labels == nil && len(d.Metadata.Labels) > 0 {
		res.Labels = maps.Clone(d.Metadata.Labels)
	}
	if res.Started.IsZero() {
		res.Started = start
	}
	if res.Finished.IsZero() {
		res.Finished = end
	}
	if err != nil {
		if res.Verdict == "" || res.Verdict == drills.VerdictPassed {
			res.Verdict = drills.VerdictError
		}
		if res.Reason == "" {
			res.Reason = err.Error()
		}
	}
	if res.Verdict == "" {
		res.Verdict = drills.VerdictError
		if res.Reason == "" {
			res.Reason = "the run returned no verdict"
		}
	}
	return res
}

// newRunID returns a short random run ID.
func newRunID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
