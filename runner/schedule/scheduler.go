package schedule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/firedrill/firedrill/drills"
)

// RunFunc runs one drill and returns its result. The scheduler calls it from
// its own goroutine; ctx is cancelled when the run is replaced
// (concurrencyPolicy Replace, cause ErrReplaced) or when shutdown's grace
// period is over (cause ErrShutdown). With concurrencyPolicy Allow several
// calls may share d at once, so a RunFunc must not modify it.
type RunFunc func(ctx context.Context, d *drills.Drill) (*drills.Result, error)

var (
	// ErrNoSchedule is returned (wrapped, naming the drill) by Add for a
	// drill without spec.schedule.
	ErrNoSchedule = errors.New("drill has no spec.schedule")
	// ErrReplaced is the cause of a run's context cancellation when a newer
	// run of a drill with concurrencyPolicy Replace fell due.
	ErrReplaced = errors.New("schedule: replaced by a newer run")
	// ErrShutdown is the cause of a run's context cancellation when the
	// scheduler shuts down and the grace period is over.
	ErrShutdown = errors.New("schedule: scheduler shutting down")
)

// cronParser reads schedules exactly as drill validation does.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Scheduler runs drills on their cron schedules. Build it with New, add
// drills with Add and start it with Run.
type Scheduler struct {
	run      RunFunc
	runsDir  string
	log      *slog.Logger
	reg      *prometheus.Registry
	missed   MissedRunPolicy
	deadline time.Duration
	grace    *time.Duration
	onResult func(*drills.Drill, *drills.Result)
	now      func() time.Time
	loc      *time.Location
	metrics  *metrics
	cron     *cron.Cron
	// err is a configuration problem found by New; Run returns it.
	err error

	mu       sync.Mutex
	entries  map[string]*entry
	order    []*entry
	started  bool
	stopping bool
	// base is the parent of every run's context: Run's context without its
	// cancellation, so that runs outlive it until shutdown decides.
	base context.Context
	// wg counts runs that are pending or running.
	wg sync.WaitGroup
}

// entry is one scheduled drill.
type entry struct {
	drill *drills.Drill
	name  string
	sched cron.Schedule
	// spec is the schedule as written, for messages.
	spec   string
	policy drills.ConcurrencyPolicy
	limit  int

	mu sync.Mutex
	// active are the runs pending (Replace waiting for the previous one)
	// or running, oldest first.
	active []*activeRun
	// historyMu serialises writing and trimming the drill's history.
	historyMu sync.Mutex
}

// New returns a Scheduler that calls run for every due drill run.
// Configuration errors (an unknown missed-run policy, a negative duration, a
// metrics clash in the registry) are returned by Run.
func New(run RunFunc, opts ...Option) *Scheduler {
	s := &Scheduler{
		run:     run,
		log:     slog.New(slog.DiscardHandler),
		missed:  MissedRunSkip,
		now:     time.Now,
		loc:     time.Local,
		entries: map[string]*entry{},
	}
	for _, o := range opts {
		o(s)
	}
	if s.reg == nil {
		s.reg = prometheus.NewRegistry()
	}
	var errs []error
	if run == nil {
		errs = append(errs, errors.New("schedule: no RunFunc"))
	}
	if _, err := ParseMissedRunPolicy(string(s.missed)); err != nil {
		errs = append(errs, err)
	}
	if s.deadline < 0 {
		errs = append(errs, fmt.Errorf("schedule: negative starting deadline %s", s.deadline))
	}
	if s.grace != nil && *s.grace < 0 {
		errs = append(errs, fmt.Errorf("schedule: negative grace period %s", *s.grace))
	}
	m, err := newMetrics(s.reg)
	if err != nil {
		errs = append(errs, fmt.Errorf("schedule: metrics: %w", err))
		m, _ = newMetrics(prometheus.NewRegistry())
	}
	s.metrics = m
	s.err = errors.Join(errs...)
	s.cron = cron.New(cron.WithLocation(s.loc), cron.WithParser(cronParser), cron.WithLogger(cronLogger{s.log}))
	return s
}

// Add schedules d. It is an error if d has no spec.schedule (ErrNoSchedule),
// if the schedule does not parse, if the concurrency policy or history limit
// is invalid, or if a drill of the same name was already added. Unset
// concurrency policy and history limit take the drills defaults (Forbid,
// drills.DefaultHistoryLimit). Drills may be added before or while Run runs.
func (s *Scheduler) Add(d *drills.Drill) error {
	if d == nil {
		return errors.New("schedule: nil drill")
	}
	name := d.Metadata.Name
	if name == "" {
		return errors.New("schedule: drill has no metadata.name")
	}
	if d.Spec.Schedule == "" {
		return fmt.Errorf("schedule: drill %q: %w", name, ErrNoSchedule)
	}
	sched, err := cronParser.Parse(d.Spec.Schedule)
	if err != nil {
		return fmt.Errorf("schedule: drill %q: invalid spec.schedule %q: %w", name, d.Spec.Schedule, err)
	}
	policy := d.Spec.ConcurrencyPolicy
	switch policy {
	case "":
		policy = drills.ConcurrencyForbid
	case drills.ConcurrencyForbid, drills.ConcurrencyAllow, drills.ConcurrencyReplace:
	default:
		return fmt.Errorf("schedule: drill %q: unknown spec.concurrencyPolicy %q (want Forbid, Allow or Replace)", name, policy)
	}
	limit := drills.DefaultHistoryLimit
	if d.Spec.HistoryLimit != nil {
		limit = *d.Spec.HistoryLimit
	}
	if limit < 1 {
		return fmt.Errorf("schedule: drill %q: spec.historyLimit must be at least 1, got %d", name, limit)
	}
	e := &entry{drill: d, name: name, sched: sched, spec: d.Spec.Schedule, policy: policy, limit: limit}

	s.mu.Lock()
	if _, dup := s.entries[name]; dup {
		s.mu.Unlock()
		return fmt.Errorf("schedule: drill %q added twice", name)
	}
	if s.stopping {
		s.mu.Unlock()
		return fmt.Errorf("schedule: drill %q: the scheduler is shutting down", name)
	}
	s.entries[name] = e
	s.order = append(s.order, e)
	started := s.started
	s.mu.Unlock()

	// Create the series so that dashboards see every drill from the start.
	s.metrics.running.WithLabelValues(name)
	s.cron.Schedule(sched, cron.FuncJob(func() { s.fire(e, "schedule") }))
	s.log.Info("drill scheduled", "drill", name, "schedule", e.spec, "concurrencyPolicy", string(policy), "historyLimit", limit)
	if started {
		s.catchUp(e)
	}
	return nil
}

// Run starts the scheduler and blocks until ctx ends. It then shuts down
// gracefully: no new run starts, running ones are waited for (see
// WithGracePeriod), and Run returns nil. It returns an error at once if the
// scheduler is misconfigured or already ran.
func (s *Scheduler) Run(ctx context.Context) error {
	if s.err != nil {
		return s.err
	}
	s.mu.Lock()
	if s.started {
		s.mu.Unlock()
		return errors.New("schedule: Run called twice")
	}
	s.started = true
	s.base = context.WithoutCancel(ctx)
	entries := slices.Clone(s.order)
	s.mu.Unlock()

	s.log.Info("scheduler starting", "drills", len(entries), "runsDir", s.runsDir, "missedRuns", string(s.missed))
	for _, e := range entries {
		s.catchUp(e)
	}
	s.cron.Start()
	<-ctx.Done()
	s.shutdown()
	return nil
}

// shutdown stops cron, then waits for the runs in progress, cancelling them
// once the grace period is over.
func (s *Scheduler) shutdown() {
	s.mu.Lock()
	s.stopping = true
	s.mu.Unlock()
	<-s.cron.Stop().Done()

	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		s.log.Info("scheduler stopped")
		return
	default:
	}
	if s.grace == nil {
		s.log.Info("scheduler stopping: waiting for running drills", "running", s.activeCount())
		<-done
		s.log.Info("scheduler stopped")
		return
	}
	s.log.Info("scheduler stopping: waiting for running drills", "running", s.activeCount(), "grace", s.grace.String())
	timer := time.NewTimer(*s.grace)
	defer timer.Stop()
	select {
	case <-done:
	case <-timer.C:
		s.log.Warn("grace period over: cancelling running drills", "running", s.activeCount())
		s.cancelAll(ErrShutdown)
		<-done
	}
	s.log.Info("scheduler stopped")
}

func (s *Scheduler) activeCount() int {
	n := 0
	for _, e := range s.entryList() {
		e.mu.Lock()
		n += len(e.active)
		e.mu.Unlock()
	}
	return n
}

func (s *Scheduler) cancelAll(cause error) {
	for _, e := range s.entryList() {
		e.mu.Lock()
		for _, r := range e.active {
			r.cancel(cause)
		}
		e.mu.Unlock()
	}
}

func (s *Scheduler) entryList() []*entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.order)
}

// cronLogger sends robfig/cron's chatter to slog at debug level.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) {
	l.log.Debug("cron: "+msg, kv...)
}

func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append([]any{"error", err}, kv...)...)
}
