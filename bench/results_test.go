package bench

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func sampleResults() *Results {
	fr := 0
	bad := Scenario{Name: "bad image", Guard: "firedrill", Runs: 20, Passed: 20, SuccessRate: ptr(1.0),
		MTTDP50: ptr(8.04), MTTDP95: ptr(9.5), MTTDMax: ptr(10.0), MTTRP50: ptr(21.8), MTTRP95: ptr(24.0), MTTRMax: ptr(25.0),
		WallP50: ptr(60.0), OverheadP50: ptr(24.0), PhaseP50: map[string]float64{"preflight": 1, "baseline": 12, "observe": 20}, Note: "shipped"}
	soak := Soak{Workload: "firedrill-demo/payment-soak", Policy: "bad-image", NoiseRate: 0.005, Seconds: 600, Requests: 30000, Errors: 150,
		ErrorRate: 0.005, PromErrorRatio: 0.0049, Evaluations: 600}
	return &Results{
		Command:   "make bench",
		Machine:   Machine{Hostname: "h", CPUs: 2, OS: "linux", Arch: "amd64", Kernel: "6"},
		Started:   time.Date(2026, 11, 27, 0, 50, 0, 0, time.UTC),
		Finished:  time.Date(2026, 11, 27, 1, 19, 30, 0, time.UTC),
		Settings:  map[string]string{"BENCH_RUNS": "20", "BENCH_ARGO": "all"},
		Scenarios: []Scenario{bad, {Name: "pod | kill", Guard: "firedrill", Runs: 3, Passed: 2, SuccessRate: ptr(2.0 / 3)}, {Name: "soak", Guard: "firedrill", Runs: 1, FalseRollbacks: &fr}},
		Soaks:     []Soak{soak},
		Engine:    []Resources{{What: "engine", WallSeconds: 600, CPUSeconds: 6, CPUPercent: 1, MaxRSSMiB: 60, Evaluations: 600, CPUMillisPerEvaluation: 10}},
		Targets:   Targets([]Scenario{bad}, []Soak{soak}),
		Notes:     []string{"concurrent"},
		Errors:    []string{"one failed"},
	}
}

func TestTargets(t *testing.T) {
	r := sampleResults()
	got := map[string]Target{}
	for _, tg := range r.Targets {
		got[tg.What] = tg
	}
	require.Len(t, got, 4)
	require.False(t, got["bad image: MTTD p50"].Met)
	require.Equal(t, "8.0 s", got["bad image: MTTD p50"].Measured)
	require.False(t, got["bad image: MTTR p50"].Met)
	require.True(t, got["bad image: automatic rollback success"].Met)
	require.Equal(t, "100.0 % (20/20)", got["bad image: automatic rollback success"].Measured)
	require.True(t, got["healthy soak (10m0s, 0.5 % noise), policy bad-image"].Met)

	none := Targets([]Scenario{{Name: "x"}}, nil)
	require.Equal(t, "no detection", none[0].Measured)
	require.False(t, none[0].Met)
}

func TestMarkdown(t *testing.T) {
	var b strings.Builder
	require.NoError(t, sampleResults().Markdown(&b))
	md := b.String()
	for _, want := range []string{
		"- date: 2026-11-27 00:50 UTC to 01:19 UTC (29m30s)",
		"- machine: h, 2 CPUs, linux/amd64, kernel 6",
		"- settings: BENCH_ARGO=all BENCH_RUNS=20",
		"| bad image | firedrill | 20 | 100 % (20/20) | 8.0 / 9.5 / 10.0 | 21.8 / 24.0 / 25.0 | — | 60.0 | 24.0 |",
		`| pod \| kill | firedrill | 3 | 67 % (2/3) | — | — | — | — | — |`,
		"| soak | firedrill | 1 | — | — | — | 0 | — | — |",
		"- **bad image** (firedrill): shipped",
		"| bad image: MTTD p50 | ≤ 5 s | 8.0 s | no |",
		"| healthy soak (10m0s, 0.5 % noise), policy bad-image | 0 false rollbacks | 0 | yes |",
		"**0 false rollbacks**",
		"| engine | 600 | 6.0 | 1.0 | 60 | 10.00 ms CPU over 600 evaluations |",
		"| bad image | 1.0 | 12.0 | — | 20.0 | — | — |",
		"## Notes\n\n- concurrent\n",
		"## Errors\n\n- one failed\n",
	} {
		require.Contains(t, md, want)
	}
}

func TestWrite(t *testing.T) {
	dir := t.TempDir()
	r := sampleResults()
	require.NoError(t, r.Write(dir))
	b, err := os.ReadFile(filepath.Join(dir, "results.json"))
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(b, &m))
	row := m["scenarios"].([]any)[0].(map[string]any)
	for _, k := range []string{"runs", "mttd_p50_s", "mttd_p95_s", "mttd_max_s", "mttr_p50_s", "mttr_p95_s", "mttr_max_s", "success_rate"} {
		require.Contains(t, row, k)
	}
	require.InDelta(t, 8.04, row["mttd_p50_s"], 1e-9)
	require.NotContains(t, row, "false_rollbacks", "only the soak has false rollbacks")
	soakRow := m["scenarios"].([]any)[2].(map[string]any)
	require.EqualValues(t, 0, soakRow["false_rollbacks"])
	require.Nil(t, soakRow["mttd_p50_s"], "no value is null, not 0")
	md, err := os.ReadFile(filepath.Join(dir, "results.md"))
	require.NoError(t, err)
	require.True(t, strings.HasPrefix(string(md), "# firedrill benchmark results"))
	_, err = os.Stat(filepath.Join(dir, "results.md.tmp"))
	require.True(t, os.IsNotExist(err))
}
