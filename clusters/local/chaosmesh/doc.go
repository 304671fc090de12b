// Package chaosmesh runs the real Chaos Mesh controller-manager (built by
// hack/build-chaos-mesh.sh into the tool cache) outside the cluster against
// firedrill's local cluster, after installing the Chaos Mesh CRDs that
// package deploy embeds. It is started and stopped by PID like the other
// host processes of the local cluster (clusters/internal/proc).
//
// The controller runs with leader election and the security mode off, its
// metrics and webhook servers on loopback (the webhook's certificate is a
// self-signed one in CERTS_DIR; the API server is not configured to call
// it), and pod-failure's pause image set to the image the local cluster
// builds itself. The chaos daemon is not run: faults that act inside pods
// stay on firedrill's native backend on the local cluster.
package chaosmesh
