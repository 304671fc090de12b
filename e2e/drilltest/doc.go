// Package drilltest runs firedrill drills as steps of go test e2e suites
// built on sigs.k8s.io/e2e-framework.
//
// It has two halves. Environment functions (env.Func) bring up a cluster
// for the suite and take it down again:
//
//   - CreateDemoStack: the embedded local cluster (clusters/local, through
//     its e2e-framework provider local.NewE2EProvider) with the demo stack
//     (clusters/local/stack: PostgreSQL, Prometheus, payment v1), which the
//     shipped drills in drills/examples run against. It needs root and the
//     pinned tools (make tools); DemoStackUnavailable says why not.
//   - CreateLocalCluster: the local cluster alone, for suites that deploy
//     their own workload.
//   - UseKubeconfig and ExistingOr: a cluster that is already up, named by a
//     kubeconfig file (ExistingOr reads $FIREDRILL_E2E_KUBECONFIG).
//   - DestroyLocal: takes down what CreateDemoStack or CreateLocalCluster
//     started, checks that no process, bridge or port of it is left, and
//     releases the machine lock.
//   - DestroyOnSignal: an interrupted suite (Ctrl-C, a cancelled CI job)
//     takes down every cluster it created (DestroyAll) before it exits.
//
// Only one local cluster can run on a machine: the Create functions hold
// the machine lock (local.LockMachine) from before the cluster exists until
// DestroyLocal has removed it, and wait for the lock while another test
// binary holds it.
//
// Feature steps run drills. RunDrill is a features.Func (use it as an
// assess step) that loads a drill file, runs every drill in it with the
// runner against the environment's cluster, writes the reports (junit.xml,
// results.json, summary.md, report.html), reports each phase and each check
// as its own subtest, and fails the test when the verdict is not passed.
// Feature wraps it into a one-step feature:
//
//	func TestMain(m *testing.M) {
//		testEnv = env.NewWithConfig(envconf.New())
//		testEnv.Setup(drilltest.ExistingOr(drilltest.CreateDemoStack(drilltest.WithSourceDir(".."))))
//		testEnv.Finish(drilltest.DestroyLocal())
//		drilltest.DestroyOnSignal()
//		os.Exit(testEnv.Run(m))
//	}
//
//	func TestBadImage(t *testing.T) {
//		testEnv.Test(t, drilltest.Feature("../drills/examples/bad-image.yaml"))
//	}
//
// e2e-framework only logs the errors of Finish functions (at klog V(2))
// and keeps the exit code; wrap DestroyLocal to fail the run on them, as
// the example suite in firedrill's e2e folder does.
//
// kind: on a machine with a Docker or Podman engine, create the cluster
// with e2e-framework's own kind support (sigs.k8s.io/e2e-framework/support/kind
// and envfuncs.CreateClusterWithConfig, e.g. with kind-config/ci.yaml) or
// firedrill's clusters/kind, load the payment images and deploy/kind, and
// use RunDrill unchanged. That path has not been exercised on firedrill's
// own machines, which have no container engine.
package drilltest
