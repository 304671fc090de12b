// Package scenarios holds the faults a drill injects: one Fault interface
// with a Chaos Mesh backend and a native backend. It imports only drills.
package scenarios
