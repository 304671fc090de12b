// Package e2e holds go test suites built on sigs.k8s.io/e2e-framework that
// run drills end to end.
package e2e
