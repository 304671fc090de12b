// Package schedule runs drills on their cron schedules: the engine behind
// `firedrill schedule`.
//
// A Scheduler knows nothing about how a drill runs: the caller supplies a
// RunFunc (in the CLI, the drill runner). The scheduler decides when to call
// it, following each drill's spec:
//
//   - spec.schedule is a robfig/cron expression parsed exactly as drill
//     validation parses it: five fields ("0 3 * * 1") or a descriptor
//     (@weekly, @every 30m);
//   - spec.concurrencyPolicy says what happens when a run falls due while an
//     earlier one still runs: Forbid skips the new run (counted in
//     firedrill_schedule_skipped_total and logged), Allow runs both, Replace
//     cancels the running one, waits for it to finish, then starts the new
//     one;
//   - spec.historyLimit is how many finished runs are kept in the runs
//     directory, newest first.
//
// Every finished run is written atomically (temporary file and rename) as
// drills.Result JSON to <runs dir>/<drill>/<start time>-<run ID>.json; the
// start time is UTC in a fixed-width form (20261126T030000.000Z), so the
// names sort by time. The newest file of a drill tells, on the next start,
// when it last ran: with the run-once missed-run policy a drill whose
// scheduled time passed while the scheduler was down runs once at start.
//
// Run blocks until its context ends and then shuts down gracefully: no new
// run starts, running ones are waited for (or, after a grace period, their
// contexts are cancelled and then waited for). The scheduler's own Prometheus
// registry holds the firedrill_schedule_* metrics; Handler serves it.
package schedule
