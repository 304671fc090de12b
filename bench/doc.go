// Package bench measures rollback paths on the real local cluster for
// `make bench`: firedrill's own engine and, side by side, the real peers
// that guard the same workload against the same faults.
//
// The suite (TestBenchSuite, gated by FIREDRILL_BENCH=1) runs four parts
// at once on one demo stack, each on its own workload: the shipped drills
// through the drill runner (BENCH_RUNS bad-image pushes, BENCH_SCENARIO_RUNS
// runs of each other drill), a healthy soak (CreateSoak: a copy of the
// payment Deployment failing 0.5 % of requests, guarded by the engine in a
// process of its own, RunGuardProcess, for BENCH_SOAK, and rolled to a
// fresh revision every BENCH_SOAK_REVISION), the sequential part (another
// NoisyWorkload, SeqWorkload, guarded in process by SequentialGuard, the
// bad-image drill's statistical test alone, with BENCH_SEQ_RUNS pushes per
// error rate timed to its detection) and Argo Rollouts (MeasureArgo). The
// sequential test's false alarms per revision-hour (Expose,
// NewFalseAlarmRate) and detection times (SummarizeDetection) go to
// Results.Sequential. Summarize and PeerScenario turn the runs into rows with
// nearest-rank percentiles (Percentile); Results writes them to
// _out/bench/results.json and renders results.md. ScopeGuard limits a
// drill's rules to its own workload's series, so that the concurrent parts
// do not read each other's errors.
//
// MeasureArgo measures the real Argo Rollouts controller (package
// clusters/local/argorollouts, built from the Go module proxy by
// hack/build-argo-rollouts.sh): the payment service as a Rollout with a
// background AnalysisRun on the stack's Prometheus (deploy/argo), the bad
// image pushed under the same traffic as firedrill's bad-image drill, and
// MTTD (push → the AnalysisRun reports Failed) and MTTR (push → the stable
// ReplicaSet serves all traffic again and the 5xx ratio is back under 1 %)
// taken from what the cluster and Prometheus report.
package bench
