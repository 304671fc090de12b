package schedule

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

// testDrill is a drill with just what the scheduler reads; limit 0 leaves
// spec.historyLimit unset.
func testDrill(name, schedule string, policy drills.ConcurrencyPolicy, limit int) *drills.Drill {
	d := &drills.Drill{APIVersion: drills.APIVersion, Kind: drills.KindDrill}
	d.Metadata.Name = name
	d.Spec.Schedule = schedule
	d.Spec.ConcurrencyPolicy = policy
	if limit != 0 {
		d.Spec.HistoryLimit = &limit
	}
	return d
}

// interval is one call of the recorder's RunFunc.
type interval struct {
	id         string
	start, end time.Time
	// cause is context.Cause of the run's context when the run returned.
	cause error
}

// recorder is a fake RunFunc that records when each run started and ended.
type recorder struct {
	// behave is what a run does between start and end.
	behave func(ctx context.Context)

	mu        sync.Mutex
	runs      []*interval
	active    int
	maxActive int
	finished  int
}

func (r *recorder) run(ctx context.Context, _ *drills.Drill) (*drills.Result, error) {
	iv := &interval{id: RunID(ctx), start: time.Now()}
	r.mu.Lock()
	r.runs = append(r.runs, iv)
	r.active++
	r.maxActive = max(r.maxActive, r.active)
	r.mu.Unlock()

	if r.behave != nil {
		r.behave(ctx)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	iv.end = time.Now()
	iv.cause = context.Cause(ctx)
	r.active--
	r.finished++
	return &drills.Result{RunID: iv.id, Verdict: drills.VerdictPassed}, nil
}

func (r *recorder) started() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}

func (r *recorder) done() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.finished
}

// snapshot returns copies of the recorded runs, ordered by start.
func (r *recorder) snapshot() []interval {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]interval, len(r.runs))
	for i, iv := range r.runs {
		out[i] = *iv
	}
	slices.SortFunc(out, func(a, b interval) int { return a.start.Compare(b.start) })
	return out
}

// sleepOrCancel returns a behaviour that takes d unless the context ends.
func sleepOrCancel(d time.Duration) func(context.Context) {
	return func(ctx context.Context) {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
}

// running is a scheduler running in the background.
type running struct {
	cancel context.CancelFunc
	errc   chan error
}

// start runs s until stop is called or the test ends.
func start(t *testing.T, s *Scheduler) *running {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{cancel: cancel, errc: make(chan error, 1)}
	go func() { r.errc <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.errc:
		case <-time.After(10 * time.Second):
		}
	})
	return r
}

// stop cancels Run's context and waits for Run to return.
func (r *running) stop(t *testing.T, within time.Duration) {
	t.Helper()
	r.cancel()
	select {
	case err := <-r.errc:
		require.NoError(t, err)
		r.errc <- nil // for the cleanup
	case <-time.After(within):
		t.Fatalf("Run did not return within %s of its context ending", within)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

func skipped(s *Scheduler, drill, reason string) float64 {
	return testutil.ToFloat64(s.metrics.skipped.WithLabelValues(drill, reason))
}

// historyFiles lists the run files of a drill, oldest first.
func historyFiles(t *testing.T, runsDir, drill string) []string {
	t.Helper()
	names, err := listRuns(runsDir + "/" + drill)
	require.NoError(t, err)
	return names
}
