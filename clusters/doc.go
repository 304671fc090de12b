// Package clusters provides the environments a drill runs in: the embedded
// local cluster, kind, or an existing kubeconfig, behind one Provider
// interface.
package clusters
