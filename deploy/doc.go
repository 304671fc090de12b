// Package deploy holds firedrill's Kubernetes manifests (the demo workload,
// Prometheus rules, and later the engine's RBAC) embedded in the binary,
// and applies them with server-side apply.
package deploy
