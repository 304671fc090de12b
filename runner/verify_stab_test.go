package runner_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
)

// TestVerifyWaitsForStabilityAfterTheFault: a fault whose effect stays
// under the SLOs (a canary's one bad pod among many) and an observe phase
// shorter than the stability window: the SLOs held since before the fault,
// but the verdict judges the stretch since the fault, so verify waits until
// the stability window after the fault has passed instead of stopping at
// once and failing a check that held.
func TestVerifyWaitsForStabilityAfterTheFault(t *testing.T) {
	cs := fakeTarget(t)
	f := &stubFault{effective: true}
	d := stubDrill(t)
	d.Spec.SLO.Stability = drills.D(4 * time.Second)
	r := runner.New(cs, runner.WithBackends(stubRunnerBackends(cs, f)), runner.WithTick(200*time.Millisecond), runner.WithMinObserve(500*time.Millisecond))
	res, err := r.Run(context.Background(), d)
	require.NoError(t, err)
	require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
	require.Equal(t, drills.VerdictPassed, check(t, res, "slo error rate").Verdict)
}
