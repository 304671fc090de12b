package schedule

import (
	"context"
	"errors"
	"io"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

// The acceptance test: a drill on a one-second schedule whose runs take
// 2.5 s, with Forbid, never overlaps, counts the skipped due times, and
// keeps only the newest historyLimit results.
func TestForbidNoOverlapAndHistoryTrimmed(t *testing.T) {
	t.Parallel()
	rec := &recorder{behave: sleepOrCancel(2500 * time.Millisecond)}
	runs := t.TempDir()
	s := New(rec.run, WithRunsDir(runs), WithLocation(time.UTC), WithLogger(testLogger(t)))
	require.NoError(t, s.Add(testDrill("forbid", "@every 1s", drills.ConcurrencyForbid, 2)))
	r := start(t, s)

	require.Eventually(t, func() bool { return rec.done() >= 3 }, 15*time.Second, 20*time.Millisecond)
	r.stop(t, 5*time.Second)

	got := rec.snapshot()
	require.GreaterOrEqual(t, len(got), 3)
	for i := 1; i < len(got); i++ {
		require.False(t, got[i].start.Before(got[i-1].end),
			"run %d started at %s before run %d ended at %s", i, got[i].start.Format(time.StampMilli), i-1, got[i-1].end.Format(time.StampMilli))
	}
	require.Equal(t, 1, rec.maxActive)
	require.Positive(t, skipped(s, "forbid", ReasonStillRunning))
	for _, iv := range got {
		require.NoError(t, iv.cause, "Forbid never cancels a run")
	}

	files := historyFiles(t, runs, "forbid")
	require.Len(t, files, 2)
	newest := got[len(got)-2:]
	for i, f := range files {
		require.True(t, strings.HasSuffix(f, "-"+newest[i].id+".json"), "history %v should hold the two newest runs %s, %s", files, newest[0].id, newest[1].id)
	}
	require.Equal(t, float64(len(got)), testutil.ToFloat64(s.metrics.runs.WithLabelValues("forbid", "passed")))
}

func TestAllowOverlaps(t *testing.T) {
	t.Parallel()
	rec := &recorder{behave: sleepOrCancel(time.Minute)}
	s := New(rec.run, WithLocation(time.UTC), WithGracePeriod(0), WithLogger(testLogger(t)))
	require.NoError(t, s.Add(testDrill("allow", "@every 1s", drills.ConcurrencyAllow, 0)))
	r := start(t, s)

	require.Eventually(t, func() bool { return rec.started() >= 2 }, 5*time.Second, 20*time.Millisecond)
	require.GreaterOrEqual(t, testutil.ToFloat64(s.metrics.running.WithLabelValues("allow")), 2.0)
	r.stop(t, 5*time.Second)

	require.GreaterOrEqual(t, rec.maxActive, 2)
	for _, iv := range rec.snapshot() {
		require.ErrorIs(t, iv.cause, ErrShutdown, "grace 0 cancels running drills at shutdown")
	}
	require.Zero(t, skipped(s, "allow", ReasonStillRunning))
	require.Zero(t, testutil.ToFloat64(s.metrics.running.WithLabelValues("allow")))
}

func TestReplaceCancelsThePreviousRunFirst(t *testing.T) {
	t.Parallel()
	// Each run lasts until cancelled, then takes 200 ms to tear down.
	rec := &recorder{behave: func(ctx context.Context) {
		<-ctx.Done()
		time.Sleep(200 * time.Millisecond)
	}}
	runs := t.TempDir()
	s := New(rec.run, WithRunsDir(runs), WithLocation(time.UTC), WithGracePeriod(0), WithLogger(testLogger(t)))
	require.NoError(t, s.Add(testDrill("replace", "@every 1s", drills.ConcurrencyReplace, 0)))
	r := start(t, s)

	require.Eventually(t, func() bool { return rec.started() >= 3 }, 8*time.Second, 20*time.Millisecond)
	r.stop(t, 5*time.Second)

	got := rec.snapshot()
	require.Equal(t, 1, rec.maxActive)
	for i := 0; i < len(got)-1; i++ {
		require.ErrorIs(t, got[i].cause, ErrReplaced, "run %d", i)
		require.False(t, got[i+1].start.Before(got[i].end), "run %d started before the replaced run %d ended", i+1, i)
	}
	require.ErrorIs(t, got[len(got)-1].cause, ErrShutdown)
	require.Len(t, historyFiles(t, runs, "replace"), len(got), "replaced runs are recorded too")
}

func TestHistoryKeepsNewestAndMetrics(t *testing.T) {
	t.Parallel()
	rec := &recorder{}
	runs := t.TempDir()
	var results []*drills.Result
	s := New(rec.run, WithRunsDir(runs), WithLocation(time.UTC), WithLogger(testLogger(t)),
		WithOnResult(func(d *drills.Drill, r *drills.Result) { results = append(results, r) }))
	require.NoError(t, s.Add(testDrill("trim", "@every 1s", drills.ConcurrencyForbid, 2)))
	r := start(t, s)

	require.Eventually(t, func() bool { return rec.done() >= 4 }, 8*time.Second, 20*time.Millisecond)
	r.stop(t, 5*time.Second)

	got := rec.snapshot()
	files := historyFiles(t, runs, "trim")
	require.Len(t, files, 2)
	require.True(t, strings.HasSuffix(files[0], "-"+got[len(got)-2].id+".json"), files)
	require.True(t, strings.HasSuffix(files[1], "-"+got[len(got)-1].id+".json"), files)

	// The files are the results, filled in by the scheduler.
	data := readFile(t, filepath.Join(runs, "trim", files[1]))
	require.Contains(t, data, `"schemaVersion": "`+drills.ResultSchemaVersion+`"`)
	require.Contains(t, data, `"drill": "trim"`)
	require.Contains(t, data, `"verdict": "passed"`)
	require.Len(t, results, len(got))

	require.Equal(t, float64(len(got)), testutil.ToFloat64(s.metrics.runs.WithLabelValues("trim", "passed")))
	require.Positive(t, testutil.ToFloat64(s.metrics.lastRun.WithLabelValues("trim")))
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	for _, name := range []string{
		`firedrill_schedule_runs_total{drill="trim",verdict="passed"}`,
		`firedrill_schedule_running{drill="trim"} 0`,
		`firedrill_schedule_last_run_timestamp_seconds{drill="trim"}`,
		`firedrill_schedule_last_duration_seconds{drill="trim"}`,
	} {
		require.Contains(t, string(body), name)
	}
}

func TestShutdownWaitsForRunningDrill(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	rec := &recorder{behave: func(context.Context) { <-release }}
	s := New(rec.run, WithLocation(time.UTC), WithLogger(testLogger(t)))
	require.NoError(t, s.Add(testDrill("wait", "@every 1s", drills.ConcurrencyForbid, 0)))
	r := start(t, s)

	require.Eventually(t, func() bool { return rec.started() >= 1 }, 5*time.Second, 20*time.Millisecond)
	r.cancel()
	require.Never(t, func() bool { return len(r.errc) > 0 }, 1500*time.Millisecond, 20*time.Millisecond,
		"Run returned while a drill was still running")
	close(release)
	r.stop(t, 5*time.Second)

	got := rec.snapshot()
	require.Len(t, got, 1, "no run starts after shutdown began")
	require.NoError(t, got[0].cause, "without a grace period the run's context is never cancelled")
}

func TestShutdownCancelsAfterGracePeriod(t *testing.T) {
	t.Parallel()
	rec := &recorder{behave: sleepOrCancel(time.Minute)}
	s := New(rec.run, WithLocation(time.UTC), WithGracePeriod(300*time.Millisecond), WithLogger(testLogger(t)))
	require.NoError(t, s.Add(testDrill("grace", "@every 1s", drills.ConcurrencyForbid, 0)))
	r := start(t, s)

	require.Eventually(t, func() bool { return rec.started() >= 1 }, 5*time.Second, 20*time.Millisecond)
	begin := time.Now()
	r.stop(t, 5*time.Second)
	require.GreaterOrEqual(t, time.Since(begin), 300*time.Millisecond)
	got := rec.snapshot()
	require.Len(t, got, 1)
	require.ErrorIs(t, got[0].cause, ErrShutdown)
}

func TestAddRejects(t *testing.T) {
	s := New((&recorder{}).run)
	require.NoError(t, s.Add(testDrill("ok", "0 3 * * 1", "", 0)))
	for _, tc := range []struct {
		name  string
		drill *drills.Drill
		want  string
	}{
		{"nil", nil, "nil drill"},
		{"no name", testDrill("", "@daily", "", 0), "no metadata.name"},
		{"no schedule", testDrill("on-demand", "", "", 0), `drill "on-demand": drill has no spec.schedule`},
		{"bad schedule", testDrill("bad-cron", "every monday", "", 0), `drill "bad-cron": invalid spec.schedule "every monday"`},
		{"seconds field", testDrill("seconds", "*/5 * * * * *", "", 0), `drill "seconds": invalid spec.schedule`},
		{"bad policy", testDrill("policy", "@daily", "forbid", 0), `drill "policy": unknown spec.concurrencyPolicy "forbid"`},
		{"history limit", testDrill("limit", "@daily", "", -1), `drill "limit": spec.historyLimit must be at least 1, got -1`},
		{"duplicate", testDrill("ok", "@daily", "", 0), `drill "ok" added twice`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := s.Add(tc.drill)
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.ErrorIs(t, s.Add(testDrill("x", "", "", 0)), ErrNoSchedule)
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []Option
		want string
	}{
		{"missed policy", []Option{WithMissedRunPolicy("always")}, `unknown missed-run policy "always"`},
		{"deadline", []Option{WithStartingDeadline(-time.Second)}, "negative starting deadline"},
		{"grace", []Option{WithGracePeriod(-time.Second)}, "negative grace period"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := New((&recorder{}).run, tc.opts...).Run(context.Background())
			require.ErrorContains(t, err, tc.want)
		})
	}
	require.ErrorContains(t, New(nil).Run(context.Background()), "no RunFunc")
}

func TestRunTwice(t *testing.T) {
	s := New((&recorder{}).run)
	r := start(t, s)
	require.Eventually(t, func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.started
	}, time.Second, 5*time.Millisecond)
	require.ErrorContains(t, s.Run(context.Background()), "Run called twice")
	r.stop(t, time.Second)
}

func TestSchedulersShareARegistry(t *testing.T) {
	a := New((&recorder{}).run)
	b := New((&recorder{}).run, WithRegistry(a.Registry()))
	require.NoError(t, b.err)
	require.Same(t, a.metrics.runs, b.metrics.runs)
}

func TestFailedRunsAreRecordedAsErrors(t *testing.T) {
	d := testDrill("err", "@daily", "", 0)
	d.Metadata.Labels = map[string]string{"team": "payments"}
	t0 := time.Date(2026, 11, 26, 3, 0, 0, 0, time.UTC)

	res := complete(nil, errors.New("no cluster"), d, "abc", t0, t0.Add(time.Second))
	require.Equal(t, drills.VerdictError, res.Verdict)
	require.Equal(t, "no cluster", res.Reason)
	require.Equal(t, "abc", res.RunID)
	require.Equal(t, "err", res.Drill)
	require.Equal(t, t0, res.Started)
	require.Equal(t, map[string]string{"team": "payments"}, res.Labels)
	require.NotNil(t, res.Phases)

	res = complete(&drills.Result{RunID: "own", Verdict: drills.VerdictFailed, Reason: "mttr"}, errors.New("x"), d, "abc", t0, t0)
	require.Equal(t, drills.VerdictFailed, res.Verdict)
	require.Equal(t, "mttr", res.Reason)
	require.Equal(t, "own", res.RunID)

	res = complete(&drills.Result{}, nil, d, "abc", t0, t0)
	require.Equal(t, drills.VerdictError, res.Verdict)

	s := New(func(context.Context, *drills.Drill) (*drills.Result, error) { panic("boom") })
	_, err := s.call(context.Background(), d)
	require.ErrorContains(t, err, "run panicked: boom")
}
