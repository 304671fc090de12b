// Package scenarios holds the faults a drill injects: one Fault interface
// (Inject, Remove, Status as proof of effect, Describe) with a Chaos Mesh
// backend and a native backend. It imports only drills.
//
// A Registry maps fault types to the Factory of one backend; it is filled
// explicitly by a constructor the CLI calls (NewNativeRegistry), and an
// unknown type is an error. SelectPods picks target pods as Chaos Mesh does
// (modes one, all, fixed, fixed-percent; a seeded RNG; system namespaces
// refused; a blast-radius limit).
//
// The native backend works on any cluster the process can reach, and for
// the network faults on a node it runs on:
//   - pod-kill deletes pods;
//   - bad-image and bad-config patch the Deployment (and ConfigMap),
//     recording the old values in firedrill.dev/* annotations with the
//     owner (firedrill.dev/drill) and expiry (firedrill.dev/expires);
//   - data-corruption runs SQL through pgx, undoSQL on Remove;
//   - network-partition and network-loss add iptables rules in a chain
//     named FIREDRILL-FAULT inside each chosen pod's network namespace,
//     bandwidth adds a tbf qdisc (handle fd:); network-delay needs netem,
//     which the local cluster's kernel lacks, and fails with ErrUnsupported.
//
// The Sweeper reverts what a crashed run left behind. With Deps.DryRun,
// Inject returns the exact patches, commands and statements without
// applying them.
package scenarios
