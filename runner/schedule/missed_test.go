package schedule

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/robfig/cron/v3"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
)

// Monday 2026-11-16 03:00 UTC, the weekly drill's last run; the next one
// was due Monday 2026-11-23 03:00.
var (
	weekly   = "0 3 * * 1"
	lastRun  = time.Date(2026, 11, 16, 3, 0, 0, 0, time.UTC)
	missedAt = time.Date(2026, 11, 23, 3, 0, 0, 0, time.UTC)
)

func TestMissedRun(t *testing.T) {
	sched, err := cronParser.Parse(weekly)
	require.NoError(t, err)
	every, err := cronParser.Parse("@every 10m")
	require.NoError(t, err)
	for _, tc := range []struct {
		name     string
		sched    cron.Schedule
		last     time.Time
		now      time.Time
		deadline time.Duration
		due      time.Time
		late     bool
	}{
		{"not yet due", sched, lastRun, lastRun.AddDate(0, 0, 6), 0, time.Time{}, false},
		{"due exactly now", sched, lastRun, missedAt, 0, missedAt, false},
		{"missed, no deadline", sched, lastRun, missedAt.Add(50 * time.Hour), 0, missedAt, false},
		{"missed within deadline", sched, lastRun, missedAt.Add(2 * time.Hour), 3 * time.Hour, missedAt, false},
		{"missed past deadline", sched, lastRun, missedAt.Add(2 * time.Hour), time.Hour, missedAt, true},
		{"two missed, the later within deadline", sched, lastRun, missedAt.AddDate(0, 0, 7).Add(time.Hour), 2 * time.Hour, missedAt.AddDate(0, 0, 7), false},
		{"deadline longer than the downtime", sched, lastRun, missedAt.Add(time.Hour), 30 * 24 * time.Hour, missedAt, false},
		{"every: missed", every, lastRun, lastRun.Add(25 * time.Minute), 0, lastRun.Add(10 * time.Minute), false},
		{"every: last run at due time", every, lastRun, lastRun.Add(9 * time.Minute), 0, time.Time{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			due, late := missedRun(tc.sched, tc.last, tc.now, tc.deadline)
			require.True(t, tc.due.Equal(due), "due %s, want %s", due, tc.due)
			require.Equal(t, tc.late, late)
		})
	}
}

// seedHistory writes a run of drill that started at t.
func seedHistory(t *testing.T, runs, drill string, at time.Time) {
	t.Helper()
	dir := filepath.Join(runs, drill)
	require.NoError(t, os.MkdirAll(dir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(dir, RunFileName(at, "old")), []byte("{}"), 0o644))
}

func TestMissedRunPolicies(t *testing.T) {
	now := missedAt.Add(2 * time.Hour)
	for _, tc := range []struct {
		name     string
		opts     []Option
		wantRun  bool
		wantSkip string
	}{
		{"skip is the default", nil, false, ReasonMissed},
		{"run-once", []Option{WithMissedRunPolicy(MissedRunOnce)}, true, ""},
		{"run-once within deadline", []Option{WithMissedRunPolicy(MissedRunOnce), WithStartingDeadline(3 * time.Hour)}, true, ""},
		{"run-once past deadline", []Option{WithMissedRunPolicy(MissedRunOnce), WithStartingDeadline(time.Hour)}, false, ReasonDeadlineExceeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			runs := t.TempDir()
			seedHistory(t, runs, "weekly", lastRun)
			rec := &recorder{}
			opts := append([]Option{WithRunsDir(runs), WithLocation(time.UTC), WithLogger(testLogger(t)),
				WithClock(func() time.Time { return now })}, tc.opts...)
			s := New(rec.run, opts...)
			require.NoError(t, s.Add(testDrill("weekly", weekly, drills.ConcurrencyForbid, 0)))
			r := start(t, s)
			if tc.wantRun {
				require.Eventually(t, func() bool { return rec.done() == 1 }, 5*time.Second, 10*time.Millisecond)
				require.Eventually(t, func() bool { return len(historyFiles(t, runs, "weekly")) == 2 }, 5*time.Second, 10*time.Millisecond)
				r.stop(t, 5*time.Second)
				files := historyFiles(t, runs, "weekly")
				require.Equal(t, RunFileName(now, rec.snapshot()[0].id), files[1])
				require.Zero(t, skipped(s, "weekly", ReasonMissed)+skipped(s, "weekly", ReasonDeadlineExceeded))
				return
			}
			require.Eventually(t, func() bool { return skipped(s, "weekly", tc.wantSkip) == 1 }, 5*time.Second, 10*time.Millisecond)
			r.stop(t, 5*time.Second)
			require.Zero(t, rec.started())
			require.Len(t, historyFiles(t, runs, "weekly"), 1)
		})
	}
}

func TestParseMissedRunPolicy(t *testing.T) {
	p, err := ParseMissedRunPolicy("run-once")
	require.NoError(t, err)
	require.Equal(t, MissedRunOnce, p)
	_, err = ParseMissedRunPolicy("Skip")
	require.ErrorContains(t, err, `unknown missed-run policy "Skip" (want skip or run-once)`)
}
