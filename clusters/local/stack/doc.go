// Package stack brings the demo stack up on the embedded local cluster and
// takes it down again: the cluster itself, a private PostgreSQL on the host
// (reachable from pods at the bridge gateway), the payment service images
// built locally and loaded into containerd, the demo manifests, and a real
// Prometheus that discovers the pods through the cluster's API.
package stack
