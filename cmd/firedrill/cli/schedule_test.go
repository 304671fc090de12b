package cli

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner/schedule"
)

const scheduledDrill = `apiVersion: firedrill.dev/v1alpha1
kind: Drill
metadata:
  name: %s
spec:
  schedule: "%s"
  historyLimit: 1
  target:
    namespace: demo
    name: payment
  traffic:
    requests:
      - path: /
  faults:
    - type: pod-kill
`

func writeDrill(t *testing.T, dir, name, sched string) {
	t.Helper()
	body := fmt.Sprintf(scheduledDrill, name, sched)
	if sched == "" {
		body = strings.Replace(body, "  schedule: \"\"\n", "", 1)
	}
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(body), 0o644))
}

// execSchedule runs `schedule args...` with run as the drill runner.
func execSchedule(ctx context.Context, run schedule.RunFunc, args ...string) (string, string, error) {
	cmd := newScheduleCmd(func(*cobra.Command) schedule.RunFunc { return run })
	var out, errOut bytes.Buffer
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetArgs(args)
	err := cmd.ExecuteContext(ctx)
	return out.String(), errOut.String(), err
}

func TestScheduleRunsScheduledDrillsAndSkipsOthers(t *testing.T) {
	dir, runs := t.TempDir(), t.TempDir()
	writeDrill(t, dir, "every-second", "@every 1s")
	writeDrill(t, dir, "on-demand", "")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var calls atomic.Int32
	run := func(ctx context.Context, d *drills.Drill) (*drills.Result, error) {
		calls.Add(1)
		cancel() // stop the scheduler after the first run
		return &drills.Result{RunID: schedule.RunID(ctx), Verdict: drills.VerdictPassed}, nil
	}
	out, errOut, err := execSchedule(ctx, run, "--runs-dir", runs, "--metrics-addr", "", dir)
	require.NoError(t, err, errOut)
	require.Equal(t, int32(1), calls.Load())
	require.Contains(t, errOut, `on-demand.yaml: drill "on-demand" has no spec.schedule; not scheduled`)
	require.Contains(t, out, "every-second run ")
	require.Contains(t, out, ": passed")
	files, err := filepath.Glob(filepath.Join(runs, "every-second", "*.json"))
	require.NoError(t, err)
	require.Len(t, files, 1)
}

func TestScheduleRefuses(t *testing.T) {
	unscheduled := t.TempDir()
	writeDrill(t, unscheduled, "on-demand", "")
	never := func(context.Context, *drills.Drill) (*drills.Result, error) {
		t.Error("no drill should run")
		return nil, nil
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no scheduled drill", []string{unscheduled}, "none of the 1 drill(s) in 1 file(s) has a spec.schedule"},
		{"invalid drill", []string{"../../../drills/testdata/invalid-bad-cron.yaml"}, "1 of 1 drill file(s) invalid"},
		{"empty folder", []string{t.TempDir()}, "no *.yaml drill files in"},
		{"missing file", []string{filepath.Join(unscheduled, "missing.yaml")}, "missing.yaml"},
		{"bad missed policy", []string{"--missed-runs", "always", unscheduled}, `unknown missed-run policy "always"`},
		{"negative grace", []string{"--grace", "-1s", unscheduled}, "must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := execSchedule(context.Background(), never, tc.args...)
			require.ErrorContains(t, err, tc.want)
			var ee *exitError
			require.NotErrorAs(t, err, &ee, "could not run: exit 2")
		})
	}
}
