package drilltest

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
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/e2e-framework/pkg/envconf"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/reports"
)

// helperEnv selects what TestHelper does when this test binary runs itself.
const helperEnv = "DRILLTEST_HELPER"

// result is a drill result with every verdict a phase and a check can
// have, and the given overall verdict.
func result(v drills.Verdict) *drills.Result {
	check := drills.VerdictPassed
	if v != drills.VerdictPassed {
		check = drills.VerdictFailed
	}
	return &drills.Result{
		Drill:   "demo",
		Verdict: v,
		MTTD:    drills.D(4 * time.Second),
		Phases: []drills.PhaseResult{
			{Name: "preflight", Verdict: drills.VerdictPassed},
			{Name: "verify", Verdict: drills.VerdictPassed, Message: "SLOs held for 15s"},
			{Name: "extra", Verdict: drills.VerdictSkipped, Message: "not needed"},
		},
		Checks: []drills.Check{
			{Name: "expect rollback", Kind: drills.CheckExpect, Expected: "rollback = true", Observed: "rolled back", Verdict: drills.VerdictPassed},
			{Name: "expect mttd", Kind: drills.CheckExpect, Expected: "≤ 1ms", Observed: "4s", Verdict: check},
		},
	}
}

// TestHelper is run by the other tests as a subprocess of this binary,
// because what they check is that a test fails.
func TestHelper(t *testing.T) {
	switch os.Getenv(helperEnv) {
	case "":
		t.Skip("runs only as a subprocess of this package's tests")
	case "report-passed":
		Report(t, result(drills.VerdictPassed))
	case "report-failed":
		Report(t, result(drills.VerdictFailed))
	case "run-drill":
		// No such target on an empty fake cluster: the drill cannot run
		// its preflight, so the verdict is not passed.
		step := RunDrill(filepath.Join("..", "..", "drills", "examples", "pod-kill.yaml"),
			WithClient(fake.NewClientset()), WithReportDir(os.Getenv("DRILLTEST_REPORT_DIR")))
		ctx := step(context.Background(), t, envconf.New())
		if _, ok := ResultFrom(ctx, "pod-kill"); !ok {
			t.Error("no result in the context")
		}
	}
}

// runHelper runs TestHelper in a subprocess doing what, and returns its
// output and exit code.
func runHelper(t *testing.T, what string, env ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelper$", "-test.v", "-test.count=1")
	cmd.Env = append(append(os.Environ(), helperEnv+"="+what), env...)
	out, err := cmd.CombinedOutput()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return string(out), exit.ExitCode()
	}
	require.NoError(t, err, string(out))
	return string(out), 0
}

func TestReportPassed(t *testing.T) {
	out, code := runHelper(t, "report-passed")
	require.Equal(t, 0, code, out)
	for _, want := range []string{
		"--- PASS: TestHelper/phases/preflight ",
		"--- PASS: TestHelper/phases/verify ",
		"--- SKIP: TestHelper/phases/extra ",
		"--- PASS: TestHelper/checks/expect_rollback ",
		"--- PASS: TestHelper/checks/expect_mttd ",
		"drill demo: verdict passed; MTTD 4s, MTTR none",
	} {
		require.Contains(t, out, want)
	}
}

func TestReportFailed(t *testing.T) {
	out, code := runHelper(t, "report-failed")
	require.Equal(t, 1, code, out)
	for _, want := range []string{
		"--- FAIL: TestHelper ",
		"--- PASS: TestHelper/phases/verify ",
		"--- PASS: TestHelper/checks/expect_rollback ",
		"--- FAIL: TestHelper/checks/expect_mttd ",
		`expect check "expect mttd" failed: expected ≤ 1ms, observed 4s`,
		"drill demo: verdict failed",
	} {
		require.Contains(t, out, want)
	}
	require.NotContains(t, out, "--- FAIL: TestHelper/phases")
}

// TestRunDrillCannotRun runs a real drill file with the runner against an
// empty fake cluster: the step writes the reports and fails the test.
func TestRunDrillCannotRun(t *testing.T) {
	dir := t.TempDir()
	out, code := runHelper(t, "run-drill", "DRILLTEST_REPORT_DIR="+dir)
	require.Equal(t, 1, code, out)
	require.Contains(t, out, "--- FAIL: TestHelper/phases/preflight ")
	require.Contains(t, out, "--- SKIP: TestHelper/phases/baseline ")
	require.Contains(t, out, "drill pod-kill: verdict")
	require.NotContains(t, out, "no result in the context")
	for _, f := range []string{"junit.xml", "results.json", "summary.md", "report.html"} {
		require.FileExists(t, filepath.Join(dir, "pod-kill", f))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "pod-kill", "results.json"))
	require.NoError(t, err)
	res, err := reports.DecodeResults(raw)
	require.NoError(t, err)
	require.Len(t, res, 1)
	require.NotEqual(t, drills.VerdictPassed, res[0].Verdict)
}

func TestFeatureName(t *testing.T) {
	f := Feature("../../drills/examples/bad-image.yaml")
	require.Equal(t, "bad-image", f.Name())
	require.Len(t, f.Steps(), 1)
	require.Equal(t, "run", f.Steps()[0].Name())
}

const kubeconfig = `apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "https://127.0.0.1:1"}
users:
- name: u
  user: {token: t}
contexts:
- name: x
  context: {cluster: c, user: u}
current-context: x
`

func TestUseKubeconfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(kubeconfig), 0o600))
	cfg := envconf.New()
	_, err := UseKubeconfig(path)(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, path, cfg.KubeconfigFile())

	_, err = UseKubeconfig(filepath.Join(t.TempDir(), "missing"))(context.Background(), envconf.New())
	require.ErrorContains(t, err, "drilltest: kubeconfig")
}

func TestExistingOr(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(path, []byte(kubeconfig), 0o600))
	created := 0
	create := func(ctx context.Context, _ *envconf.Config) (context.Context, error) {
		created++
		return ctx, nil
	}

	t.Setenv(KubeconfigEnv, path)
	cfg := envconf.New()
	_, err := ExistingOr(create)(context.Background(), cfg)
	require.NoError(t, err)
	require.Equal(t, 0, created, "an existing cluster is used, none created")
	require.Equal(t, path, cfg.KubeconfigFile())

	t.Setenv(KubeconfigEnv, "")
	_, err = ExistingOr(create)(context.Background(), envconf.New())
	require.NoError(t, err)
	require.Equal(t, 1, created)
}

func TestDestroyLocalWithoutCluster(t *testing.T) {
	ctx, err := DestroyLocal()(context.Background(), envconf.New())
	require.NoError(t, err)
	_, ok := Cluster(ctx)
	require.False(t, ok)
	_, ok = Stack(ctx)
	require.False(t, ok)
}

func TestCreateRefusesASecondCluster(t *testing.T) {
	ctx := context.WithValue(context.Background(), ctxKey{}, &localState{})
	_, err := CreateLocalCluster()(ctx, envconf.New())
	require.ErrorContains(t, err, "already up")
}

func TestUnavailable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("as root the answer depends on the installed tools")
	}
	require.True(t, strings.Contains(LocalClusterUnavailable(), "root"))
	require.True(t, strings.Contains(DemoStackUnavailable(), "root"))
}
