// Package kind provides kind clusters (Kubernetes in Docker) as a
// clusters.Provider, through the sigs.k8s.io/kind library: create from a
// config, delete, write a kubeconfig, and load image tarballs into every
// node's containerd. kind needs a Docker (or Podman) engine; firedrill's own
// development machines have none, so this provider is unit-tested here and
// exercised by users' CI (see kind-config/ and .github/workflows/).
package kind
