package e2e_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/e2e/drilltest"
	"github.com/firedrill/firedrill/reports"
)

// Variables TestFailingDrillFailsTheTest hands to its subprocess.
const (
	impossibleEnv = "FIREDRILL_E2E_IMPOSSIBLE_DRILL" // "1" enables TestImpossibleDrill
	reportDirEnv  = "FIREDRILL_E2E_REPORT_DIR"
)

// TestImpossibleDrill runs a drill whose expectation cannot hold (a
// rollback after one pod is killed, which the engine must not do), so it
// must fail. It runs only as the subprocess of TestFailingDrillFailsTheTest.
func TestImpossibleDrill(t *testing.T) {
	if os.Getenv(impossibleEnv) != "1" {
		t.Skip("runs only as TestFailingDrillFailsTheTest's subprocess, which must fail")
	}
	requireEnv(t)
	testEnv.Test(t, drilltest.Feature("testdata/impossible-rollback.yaml", drilltest.WithReportDir(os.Getenv(reportDirEnv))))
}

// TestFailingDrillFailsTheTest runs TestImpossibleDrill in a subprocess of
// this test binary against this suite's cluster (the machine lock allows
// one local cluster, which this binary holds, hence
// $FIREDRILL_E2E_KUBECONFIG), and requires that the drill really ran,
// that its verdict failed, that the test failed with the failed check
// named as a subtest, and that the target was restored afterwards.
func TestFailingDrillFailsTheTest(t *testing.T) {
	requireEnv(t)
	if os.Getenv(impossibleEnv) == "1" {
		t.Skip("this is the subprocess")
	}
	cfg := testEnv.EnvConf()
	require.NotEmpty(t, cfg.KubeconfigFile(), "Setup pointed the environment at a cluster")
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestImpossibleDrill$", "-test.v", "-test.count=1", "-test.timeout=9m")
	cmd.Env = append(os.Environ(),
		impossibleEnv+"=1",
		drilltest.KubeconfigEnv+"="+cfg.KubeconfigFile(),
		reportDirEnv+"="+dir)
	start := time.Now()
	b, err := cmd.CombinedOutput()
	out := string(b)
	t.Logf("subprocess ran in %s; its output:\n%s", time.Since(start).Round(time.Millisecond), out)

	var exit *exec.ExitError
	require.True(t, errors.As(err, &exit), "the subprocess must exit non-zero, got %v", err)
	require.Equal(t, 1, exit.ExitCode())
	const prefix = "TestImpossibleDrill/impossible-rollback/run"
	for _, want := range []string{
		"--- FAIL: TestImpossibleDrill ",
		"--- FAIL: " + prefix + " ",
		"--- FAIL: " + prefix + "/checks/expect_rollback ",
		"--- PASS: " + prefix + "/checks/expect_mttr ",
		"--- PASS: " + prefix + "/phases/inject ",
		"--- PASS: " + prefix + "/phases/verify ",
		"drill pod-kill-impossible-rollback: verdict failed",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "--- FAIL: "+prefix+"/phases/", "every phase ran; only an expectation failed")

	// The drill really ran: the pod was killed, the SLOs recovered, and
	// only the expectation failed, as its reports say.
	raw, err := os.ReadFile(filepath.Join(dir, "pod-kill-impossible-rollback", "results.json"))
	require.NoError(t, err)
	results, err := reports.DecodeResults(raw)
	require.NoError(t, err)
	require.Len(t, results, 1)
	require.Equal(t, drills.VerdictFailed, results[0].Verdict)
	require.NotNil(t, results[0].MTTR, "the target recovered")
	failed := map[string]string{}
	for _, c := range results[0].Checks {
		if c.Verdict != drills.VerdictPassed {
			failed[c.Name] = c.Observed
		}
	}
	require.Len(t, failed, 1, "only the expectation fails: %v", failed)
	require.Contains(t, failed["expect rollback"], "no ", "the engine did not roll back")
	junit, err := os.ReadFile(filepath.Join(dir, "pod-kill-impossible-rollback", "junit.xml"))
	require.NoError(t, err)
	require.True(t, strings.Contains(string(junit), "<failure"), "junit.xml records the failure")

	// The subprocess's teardown put the target back.
	testEnv.Test(t, features.New("after the failing drill").
		Assess("restored", func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
			return requireRestored(ctx, t, cfg)
		}).Feature())
}
