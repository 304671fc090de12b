// Package engine is the rollback engine (the guard): it detects anomalies,
// decides with a score, acts through strategies, and audits every decision.
// It imports only drills.
//
//   - Detect: RuleTracker follows PromQL rules through their `for` window
//     with a HOLD state for missing, stale or low-traffic data; SPRT and
//     CUSUM (sequential.go) compare a revision's errors with a baseline.
//   - Decide: Decider computes the seed's RollbackScore = E×S/R + T
//     (decide.go defines each term) and maps its confidence to rollback,
//     partial rollback or require-human.
//   - Act: one Strategy per action (revert, traffic-switch, shrink, restore,
//     human), each idempotent and safe to retry after a crash; Escalation
//     orders them with cooldown and max attempts.
//   - Audit: AuditStore keeps the rollback_audit table in SQLite (embedded
//     default) or PostgreSQL.
//
// The loop: Guard (guard.go) runs every Interval over its Signals
// (signal.go): RuleSignal evaluates the PromQL rules through RuleTrackers
// (HOLD on no data, stale samples, query errors and low traffic),
// KubeSignal reads the Deployment, its ReplicaSets and pods from informers
// (Watch, watch.go) for a stalled rollout, crash loops and image pulls on
// the newest ReplicaSet and too few ready replicas, and SequentialSignal
// tests the newest revision (pod_template_hash) against the previous one.
// The Guard decides, escalates, acts, audits (from/to = container images
// of the bad and the restored ReplicaSet), verifies the recovery over the
// VerifyWindow, emits Events for MTTD/MTTR and updates Metrics. After
// every evaluation OnObserve receives one UnitReport per signal unit (each
// rule, the Kubernetes signals, the sequential test, each extra signal):
// clear, firing or held and why, so a runner can tell a quiet guard from a
// blind one. With
// LeaderElection (leader.go) only the holder of a coordination.k8s.io
// Lease acts; `firedrill guard` runs it.
package engine
