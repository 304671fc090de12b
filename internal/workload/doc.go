// Package workload is one view of the workload a drill targets, a
// Deployment or an Argo Rollouts Rollout: its pod template, selector,
// revision and health, read and patched the same way for both kinds, so
// that faults and the runner's phases need no second code path per kind.
package workload
