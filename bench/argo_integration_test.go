package bench_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/bench"
	"github.com/firedrill/firedrill/clusters/local/argorollouts"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/internal/testenv"
)

// BenchEnv must be 1 for the benchmarks on the real cluster to run (make
// bench sets it); they take many minutes.
const BenchEnv = "FIREDRILL_BENCH"

// shared is the demo stack of this test binary, for every benchmark of the
// package (this file holds the package's TestMain).
var shared = &stacktest.Shared{Name: "fdbench", SourceDir: ".."}

func TestMain(m *testing.M) { shared.Main(m) }

// argoJSON is where the Argo Rollouts figures go, relative to this package.
var argoJSON = filepath.Join("..", "_out", "bench", "argo.json")

// TestArgoRolloutsBadImage runs the real Argo Rollouts controller against
// payment:v2-buggy under the bad-image drill's traffic, once with the
// fastest analysis settings its docs allow and once with its documented
// example settings, checks that it really detected the bad canary and
// recovered, and writes _out/bench/argo.json.
func TestArgoRolloutsBadImage(t *testing.T) {
	if os.Getenv(BenchEnv) != "1" {
		t.Skipf("skipping: the Argo Rollouts benchmark takes ~25 minutes on the local cluster; it runs under make bench (%s=1)", BenchEnv)
	}
	measureArgo(t, "sudo "+BenchEnv+"=1 go test -run TestArgoRolloutsBadImage -timeout 60m -v ./bench",
		[]bench.ArgoSetting{bench.ArgoFastest, bench.ArgoDocumented}, nil)
	t.Logf("wrote %s", argoJSON)
}

// measureArgo runs the real Argo Rollouts controller against
// payment:v2-buggy under the bad-image drill's traffic at each setting in
// turn (the fastest first, if both), checks that it really detected the bad
// canary and recovered, writes _out/bench/argo.json after each setting and
// hands each result to onResult (if set) as soon as it is measured.
func measureArgo(t *testing.T, command string, settings []bench.ArgoSetting, onResult func(bench.PeerResult)) bench.ArgoReport {
	t.Helper()
	toolDir := argorollouts.DefaultDir()
	testenv.Integration(t, argorollouts.Binary(toolDir))
	st := shared.Stack(t)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Minute)
	t.Cleanup(cancel)
	log := stacktest.Logger()

	rest, err := st.Cluster().RESTConfig()
	require.NoError(t, err)
	ds, err := drills.LoadFile(filepath.Join("..", "drills", "examples", "bad-image.yaml"))
	require.NoError(t, err)
	d := ds[0]
	require.NotNil(t, d.Spec.Traffic)
	require.Equal(t, 50.0, d.Spec.Traffic.Rate, "the bad-image drill's rate")

	workDir, err := filepath.Abs(filepath.Join("..", "_out", "bench", "argo-rollouts"))
	require.NoError(t, err)
	ctl, err := argorollouts.Start(ctx, st.Cluster().Kubeconfig(),
		argorollouts.WithToolDir(toolDir), argorollouts.WithWorkDir(workDir),
		argorollouts.WithNamespace(bench.ArgoNamespace), argorollouts.WithLogger(log))
	require.NoError(t, err)
	ref := ctl.Ref()
	t.Logf("Argo Rollouts %s running, pid %d, log %s", argorollouts.Version, ref.PID, ctl.LogPath())
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		// The Rollout and its pods first, while the controller still runs.
		require.NoError(t, bench.DeleteArgo(cctx, rest))
		require.NoError(t, ctl.Stop(cctx))
		require.False(t, ref.Alive(), "the controller (pid %d) is gone after Stop", ref.PID)
		require.Zero(t, ctl.PID())
	})

	report := bench.ArgoReport{
		Peer:          bench.ArgoPeer,
		Version:       argorollouts.Version,
		Command:       command,
		Machine:       bench.ThisMachine(),
		Started:       time.Now().UTC(),
		BuildSeconds:  bench.ReadBuildSeconds(toolDir),
		ControllerLog: ctl.LogPath(),
	}
	// The fastest first: a setup problem shows within minutes, not after
	// the documented setting's ~20.
	var fastest bench.PeerResult
	for _, setting := range settings {
		res, err := bench.MeasureArgo(ctx, bench.ArgoConfig{
			REST:          rest,
			PrometheusURL: st.Prometheus().URL(),
			Setting:       setting,
			Traffic:       *d.Spec.Traffic,
			BadImage:      "payment:v2-buggy",
			GoodImage:     "payment:v1",
			Log:           log,
		})
		report.Results = append(report.Results, res)
		report.Finished = time.Now().UTC()
		require.NoError(t, bench.WriteJSON(argoJSON, report))
		if onResult != nil {
			onResult(res)
		}
		t.Logf("%s (%s, interval %s, failureLimit %d): MTTD %s, MTTR %s; run %s %s after %d measurements (%d failed); peak 5xx ratio %.3f; %d of %d requests failed",
			setting, res.Template, res.Interval, res.FailureLimit, res.MTTD, res.MTTR, res.AnalysisRun, res.AnalysisPhase,
			res.Measurements, res.FailedMeasurements, res.PeakErrorRatio, res.Errors, res.Requests)
		require.NoError(t, err, "log: %s\n%s", ctl.LogPath(), tail(ctl.LogPath()))

		// Argo itself judged the canary bad, after it had served.
		require.True(t, res.Detected)
		require.Equal(t, "Failed", res.AnalysisPhase, "the AnalysisRun failed on its measurements, not on errors")
		require.Greater(t, int64(res.FailedMeasurements), res.FailureLimit, "failed measurements exceed failureLimit")
		require.False(t, res.CanaryReady.IsZero(), "the canary served traffic")
		require.True(t, res.CanaryReady.Before(res.AnalysisFailed))
		require.False(t, res.Aborted.IsZero(), "the failed run aborted the Rollout")
		// The bad canary's 5xx showed in Prometheus and at the clients (at
		// the fastest setting too briefly to lift the 15 s ratio over 1 %).
		require.Positive(t, res.PeakErrorRatio, "Prometheus saw the canary's 5xx")
		require.Positive(t, res.ErrorsAfterPush, "clients saw the bad canary's errors")
		// And the service recovered: stable only, 5xx ratio under the SLO.
		require.True(t, res.Recovered)
		require.Positive(t, res.MTTD.Duration)
		require.GreaterOrEqual(t, res.MTTR.Duration, res.MTTD.Duration)
		require.False(t, res.StableOnly.Before(res.AnalysisFailed), "recovery follows detection")

		interval, err := time.ParseDuration(res.Interval)
		require.NoError(t, err)
		switch setting {
		case bench.ArgoFastest:
			require.Equal(t, time.Second, interval)
			require.Zero(t, res.FailureLimit)
			fastest = res
		case bench.ArgoDocumented:
			require.Equal(t, 5*time.Minute, interval)
			require.EqualValues(t, 3, res.FailureLimit)
			// failureLimit+1 failed measurements, interval apart (Argo
			// schedules from second-truncated timestamps: up to 1 s early).
			require.GreaterOrEqual(t, res.MTTD.Duration, time.Duration(res.FailureLimit)*(interval-time.Second))
			if fastest.Detected {
				require.Greater(t, res.MTTD.Duration, fastest.MTTD.Duration)
			}
		}
	}
	return report
}

// tail returns the last lines of a log, for failure messages.
func tail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
