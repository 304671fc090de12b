// Package argorollouts runs the real Argo Rollouts controller on the host,
// out-of-cluster, against the local cluster: the peer that firedrill's
// benchmark measures next to its own rollback engine.
//
// The controller binary and the CRDs of the same release come from the tool
// cache, where hack/build-argo-rollouts.sh builds them from the Go module
// proxy at the pin of hack/versions.env (ARGO_ROLLOUTS_VERSION); nothing of
// Argo's code is vendored or copied into this repository. Start installs
// the CRDs with server-side apply, starts the controller by PID with its log
// in a file, and waits until it is healthy and its informers have synced;
// Stop stops it by PID and leaves no process behind.
//
// The controller runs with leader election off, watching one namespace
// (--namespaced), with its metrics and healthz servers on free ports. Those
// two servers listen on 0.0.0.0: the listen address is a constant in the
// controller (controller.listenAddr = "0.0.0.0:%d") with no flag to change
// it, so only the ports can be chosen.
package argorollouts
