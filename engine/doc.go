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
// Not built yet: the loop that turns Prometheus queries and Kubernetes
// watches into evidence, leader election, and the `firedrill guard`
// command.
package engine
