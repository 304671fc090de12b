package runner_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
	"github.com/firedrill/firedrill/scenarios"
)

// TestAbortStopsPartitionDrill runs the weekly partition drill with
// firedrill run, sets the kill switch with firedrill abort once the
// partition is in, and requires the partition removed within 5 s, the
// drill ended inconclusive ("aborted", exit 2), and, while the switch is
// set, a new drill refused before it touches anything.
func TestAbortStopsPartitionDrill(t *testing.T) {
	st, cs := stackClient(t)
	bin := buildCLI(t)
	kubeconfig := st.Cluster().Kubeconfig()
	t.Cleanup(func() {
		_, _ = scenarios.NewKillSwitch(cs).Clear(context.Background())
		requireRestored(t, cs)
	})

	var out syncBuffer
	cmd := exec.Command(bin, "run", "--kubeconfig", kubeconfig, "--report-dir", t.TempDir(),
		filepath.Join("..", "drills", "examples", "network-partition-weekly.yaml"))
	cmd.Stderr, cmd.Stdout = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool { return strings.Contains(out.String(), " injected: ") }, 3*time.Minute, 100*time.Millisecond,
		"the partition goes in: %s", &out)

	abort := exec.Command(bin, "abort", "--kubeconfig", kubeconfig, "--reason", "TestAbortStopsPartitionDrill")
	start := time.Now()
	msg, err := abort.CombinedOutput()
	require.NoError(t, err, "%s", msg)
	require.Contains(t, string(msg), "kill switch default/firedrill-abort set")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "removed (teardown)") }, 5*time.Second, 50*time.Millisecond,
		"the partition is removed within 5 s of firedrill abort: %s", &out)
	t.Logf("partition removed %s after firedrill abort returned", time.Since(start).Round(10*time.Millisecond))

	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("firedrill run did not end after the abort: %s", &out)
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", &out)
	require.Equal(t, 2, ee.ExitCode(), "an aborted drill is inconclusive: %s", &out)
	require.Contains(t, out.String(), "aborted: kill switch default/firedrill-abort set by")
	require.Contains(t, out.String(), "TestAbortStopsPartitionDrill")

	status := exec.Command(bin, "abort", "--kubeconfig", kubeconfig, "--status")
	msg, err = status.CombinedOutput()
	require.ErrorAs(t, err, &ee, "%s", msg)
	require.Equal(t, 1, ee.ExitCode(), "--status: set")

	// While the switch is set, no drill starts.
	d := loadExample(t, "pod-kill.yaml")
	res, err := runner.New(cs, runner.WithLogger(stacktest.Logger())).Run(context.Background(), d)
	require.NoError(t, err)
	require.Equal(t, drills.VerdictInconclusive, res.Verdict, res.Reason)
	require.Contains(t, res.Reason, "aborted")
	require.Zero(t, kinds(res)[drills.EventFault], "nothing injected")

	msg, err = exec.Command(bin, "abort", "--kubeconfig", kubeconfig, "--clear").CombinedOutput()
	require.NoError(t, err, "%s", msg)
	require.Contains(t, string(msg), "lifted")
}

// TestDryRunPreviewsPartition: firedrill run --dry-run on the weekly
// partition drill passes preflight, names the payment pods the partition
// would pick from, injects nothing and exits 0; the Deployment is left as
// it was.
func TestDryRunPreviewsPartition(t *testing.T) {
	st, cs := stackClient(t)
	bin := buildCLI(t)
	before, err := cs.AppsV1().Deployments(stack.Namespace).Get(context.Background(), stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)

	out, err := exec.Command(bin, "run", "--dry-run", "-q", "--kubeconfig", st.Cluster().Kubeconfig(), "--report-dir", t.TempDir(),
		filepath.Join("..", "drills", "examples", "network-partition-weekly.yaml")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Logf("firedrill run --dry-run:\n%s", out)
	require.Contains(t, string(out), "network-partition-weekly: SKIPPED — dry run: preflight passed, nothing injected")
	require.Regexp(t, `mode one of the [1-9][0-9]* pod\(s\) matching app=payment in firedrill-demo: payment-`, string(out))
	require.NotContains(t, string(out), " injected: ")

	after, err := cs.AppsV1().Deployments(stack.Namespace).Get(context.Background(), stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, before.Generation, after.Generation, "the Deployment was not changed")
}
