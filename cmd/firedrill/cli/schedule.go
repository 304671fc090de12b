package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/spf13/cobra"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner/schedule"
)

// scheduleFlags holds the flags of `firedrill schedule`.
type scheduleFlags struct {
	runsDir          string
	metricsAddr      string
	missedRuns       string
	startingDeadline time.Duration
	grace            time.Duration
	verbose          bool
}

// newScheduleCmd returns `firedrill schedule`. run builds, once the flags
// are parsed, the function that runs one drill.
func newScheduleCmd(run func(cmd *cobra.Command) schedule.RunFunc) *cobra.Command {
	f := &scheduleFlags{}
	cmd := &cobra.Command{
		Use:   "schedule DIR|FILE... [--runs-dir DIR] [--metrics-addr ADDR] [--missed-runs skip|run-once]",
		Short: "Run drills on their cron schedules until stopped",
		Long: `Schedule loads every drill in the given files and folders (*.yaml and *.yml
in a folder, not recursive), checks them as validate does, and runs each drill
with a spec.schedule on that cron schedule until SIGINT or SIGTERM. Drills
without a schedule are reported and left out.

spec.concurrencyPolicy decides what happens when a run falls due while the
previous one still runs: Forbid (the default) skips it, Allow runs both,
Replace cancels the running one, waits for its teardown and starts the new
one. Every finished run is written as RUNS_DIR/DRILL/TIME-RUNID.json and only
the newest spec.historyLimit runs of each drill are kept.

After downtime, --missed-runs run-once runs at start every drill whose
scheduled time passed since its last run in RUNS_DIR (no longer ago than
--starting-deadline, if set); skip (the default) waits for the next time.

On SIGINT or SIGTERM no new run starts and running drills are left to finish
(and tear down their faults); with --grace they are cancelled after that long.

Metrics (firedrill_schedule_runs_total, _skipped_total, _running,
_last_run_timestamp_seconds, _last_duration_seconds) are served on
--metrics-addr at /metrics.

Exit codes: 0 stopped by a signal, 2 could not run (bad usage, an unreadable
or invalid drill file, no drill with a schedule, metrics address in use).`,
		Example: `  firedrill schedule drills/examples/
  firedrill schedule --runs-dir /var/lib/firedrill/runs --missed-runs run-once \
    --starting-deadline 6h --grace 10m /etc/firedrill/drills/`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runSchedule(cmd, f, run, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.runsDir, "runs-dir", "_out/runs", "where each run's result JSON is kept, one folder per drill")
	fl.StringVar(&f.metricsAddr, "metrics-addr", "127.0.0.1:9464", `address to serve /metrics on ("" disables)`)
	fl.StringVar(&f.missedRuns, "missed-runs", string(schedule.MissedRunSkip), "runs missed while the scheduler was down: skip, or run-once at start")
	fl.DurationVar(&f.startingDeadline, "starting-deadline", 0, "with --missed-runs run-once, run a missed drill only if it was due no longer ago than this (0: no limit)")
	fl.DurationVar(&f.grace, "grace", 0, "on shutdown, cancel drills still running after this long (0: wait for them to finish)")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "debug logging")
	return cmd
}

func runSchedule(cmd *cobra.Command, f *scheduleFlags, run func(*cobra.Command) schedule.RunFunc, args []string) error {
	policy, err := schedule.ParseMissedRunPolicy(f.missedRuns)
	if err != nil {
		return fmt.Errorf("--missed-runs: %w", err)
	}
	if f.startingDeadline < 0 || f.grace < 0 {
		return errors.New("schedule: --starting-deadline and --grace must not be negative")
	}
	scheduled, err := loadScheduledDrills(cmd.ErrOrStderr(), args)
	if err != nil {
		return err
	}
	var runFn schedule.RunFunc
	if run != nil {
		runFn = run(cmd)
	}
	if runFn == nil {
		return errors.New("schedule: no drill runner")
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var outMu sync.Mutex
	opts := []schedule.Option{
		schedule.WithRunsDir(f.runsDir), schedule.WithLogger(log), schedule.WithRegistry(reg),
		schedule.WithMissedRunPolicy(policy), schedule.WithStartingDeadline(f.startingDeadline),
		schedule.WithOnResult(func(d *drills.Drill, r *drills.Result) {
			outMu.Lock()
			defer outMu.Unlock()
			fmt.Fprintf(cmd.OutOrStdout(), "%s %s run %s: %s (%s)\n", r.Finished.Format(time.RFC3339), r.Drill, r.RunID, r.Verdict, r.Finished.Sub(r.Started).Round(time.Second))
		}),
	}
	if f.grace > 0 {
		opts = append(opts, schedule.WithGracePeriod(f.grace))
	}
	s := schedule.New(runFn, opts...)
	for _, d := range scheduled {
		if err := s.Add(d); err != nil {
			return err
		}
	}
	if f.metricsAddr != "" {
		stop, err := serveMetrics(ctx, f.metricsAddr, reg, log)
		if err != nil {
			return fmt.Errorf("schedule: %w", err)
		}
		defer stop()
	}
	if err := s.Run(ctx); err != nil {
		return err
	}
	return nil
}

// loadScheduledDrills loads the drills of every file and folder in args,
// reports the ones without a schedule on w and returns the others. It fails
// if any file is unreadable or invalid, or if no drill has a schedule.
func loadScheduledDrills(w io.Writer, args []string) ([]*drills.Drill, error) {
	files, err := drillFiles(args)
	if err != nil {
		return nil, err
	}
	var scheduled []*drills.Drill
	bad, total := 0, 0
	for _, file := range files {
		ds, err := drills.LoadFile(file)
		if err != nil {
			bad++
			var list drills.ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					fmt.Fprintln(w, e.Error())
				}
			} else {
				fmt.Fprintln(w, err)
			}
			continue
		}
		for _, d := range ds {
			total++
			if d.Spec.Schedule == "" {
				fmt.Fprintf(w, "%s: drill %q has no spec.schedule; not scheduled\n", file, d.Metadata.Name)
				continue
			}
			scheduled = append(scheduled, d)
		}
	}
	if bad > 0 {
		return nil, fmt.Errorf("schedule: %d of %d drill file(s) invalid", bad, len(files))
	}
	if len(scheduled) == 0 {
		return nil, fmt.Errorf("schedule: none of the %d drill(s) in %d file(s) has a spec.schedule", total, len(files))
	}
	return scheduled, nil
}

// drillFiles expands folders in args to their *.yaml and *.yml files.
func drillFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		st, err := os.Stat(arg)
		if err != nil {
			return nil, fmt.Errorf("schedule: %w", err)
		}
		if !st.IsDir() {
			files = append(files, arg)
			continue
		}
		var found []string
		for _, pattern := range []string{"*.yaml", "*.yml"} {
			m, err := filepath.Glob(filepath.Join(arg, pattern))
			if err != nil {
				return nil, fmt.Errorf("schedule: %w", err)
			}
			found = append(found, m...)
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("schedule: no *.yaml drill files in %s", arg)
		}
		slices.Sort(found)
		files = append(files, found...)
	}
	return files, nil
}
