package e2e_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/e2e/drilltest"
)

// TestBadImage runs the shipped bad-image drill end to end: payment
// v2-buggy is rolled out, the engine must detect and revert it within the
// drill's MTTD/MTTR budgets, and the ledger must stay consistent. The
// reports go to _out/e2e/bad-image/.
func TestBadImage(t *testing.T) {
	requireEnv(t)
	f := features.New("bad-image").
		Assess("run", drilltest.RunDrill("../drills/examples/bad-image.yaml", drilltest.WithReportDir("../_out/e2e"))).
		Assess("measured", func(ctx context.Context, t *testing.T, _ *envconf.Config) context.Context {
			res, ok := drilltest.ResultFrom(ctx, "bad-image")
			require.True(t, ok, "the run step stored its result")
			require.Equal(t, drills.VerdictPassed, res.Verdict)
			require.NotNil(t, res.MTTD)
			require.NotNil(t, res.MTTR)
			t.Logf("MTTD %s, MTTR %s", res.MTTD.Duration, res.MTTR.Duration)
			return ctx
		}).
		Assess("restored", requireRestored).
		Feature()
	testEnv.Test(t, f)
}
