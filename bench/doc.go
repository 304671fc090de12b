// Package bench measures rollback paths on the real local cluster for
// `make bench`: firedrill's own engine and, side by side, the real peers
// that guard the same workload against the same faults.
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
