// Package chaosmesh is the Chaos Mesh backend of package scenarios: it turns
// drill faults into Chaos Mesh objects built from the
// github.com/chaos-mesh/chaos-mesh/api/v1alpha1 Go types, applies them to
// the cluster, waits until the Chaos Mesh controller reports them injected,
// reads their records as proof of effect, and deletes them on Remove.
//
// Objects:
//   - pod-kill, pod-failure and container-kill are PodChaos objects;
//   - network-partition, network-loss, network-delay and bandwidth are
//     NetworkChaos objects;
//   - chaos-mesh faults name any Chaos Mesh kind with a raw spec;
//   - NewSchedule wraps a built object in a Schedule (a drill's cron).
//
// Pods are selected as Chaos Mesh does (namespace, labelSelectors, mode one,
// all, fixed or fixed-percent with a value); the target Deployment's pod
// selector is the default. Every object carries firedrill's owner and expiry
// annotations (scenarios.AnnotationOwner, scenarios.AnnotationExpires) and
// the managed-by label, so that Sweep removes objects a crashed run left.
// Parameters are checked by firedrill and by Chaos Mesh's own webhook
// validation (which a local API server does not call) before anything is
// sent to the cluster.
//
// NewRegistry returns the backend as a scenarios.Registry. Detect reports
// whether Chaos Mesh (CRDs, controller, chaos daemon) is present, and Select
// picks the backend of one fault for `backend: auto` and says why.
//
// Faults that act inside pods (container-kill, the network faults and most
// other kinds) need Chaos Mesh's chaos-daemon on the node. firedrill's local
// cluster runs only the controller-manager (see clusters/local/chaosmesh),
// so Select keeps those faults on the native backend there.
package chaosmesh
