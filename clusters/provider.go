package clusters

import "context"

// Provider is one environment a drill can run in (the embedded local
// cluster, kind, or an existing kubeconfig). Implementations live in
// sub-packages (clusters/local, clusters/kind) and are wired in cmd.
type Provider interface {
	// Name is the provider's short name ("local", "kind", "kubeconfig").
	Name() string
	// Create brings the cluster up, or reuses it if it is already running.
	Create(ctx context.Context) error
	// Delete tears the cluster down and removes every trace it left.
	Delete(ctx context.Context) error
	// Kubeconfig returns the path of a kubeconfig file for the cluster.
	Kubeconfig() string
	// LoadImage loads an OCI or Docker image tarball into the cluster's
	// container runtime so that pods with imagePullPolicy Never can run it.
	LoadImage(ctx context.Context, tarball string) error
}
