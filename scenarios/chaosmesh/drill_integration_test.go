package chaosmesh_test

import (
	"context"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
	"github.com/firedrill/firedrill/scenarios"
	"github.com/firedrill/firedrill/scenarios/chaosmesh"
)

// The shipped pod-kill drill (backend auto) runs end to end through the
// runner with the real Chaos Mesh controller-manager, and again with
// backend native: both pass with the kill proven.
func TestIntegrationPodKillDrill(t *testing.T) {
	e := demo(t)
	controller(t, e)
	for _, backend := range []drills.Backend{drills.BackendAuto, drills.BackendNative} {
		t.Run(string(backend), func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
			defer cancel()
			readyPods(ctx, t, e.cs)
			ds, err := drills.LoadFile("../../drills/examples/pod-kill.yaml")
			require.NoError(t, err)
			d := ds[0]
			d.Spec.Faults[0].Backend = backend
			// The guard's statistical test reads the stack's Prometheus.
			d.Spec.Prometheus = &drills.Prometheus{URL: e.st.Prometheus().URL()}
			deps := scenarios.Deps{Client: e.cs, Owner: "it-drill-" + string(backend), Logger: stacktest.Logger()}
			r := runner.New(e.cs, runner.WithLogger(stacktest.Logger()), runner.WithBackends(chaosmesh.Backends(e.cfg, deps)))
			start := time.Now()
			res, err := r.Run(ctx, d)
			require.NoError(t, err)
			t.Logf("%s: %s %s in %s (MTTR %v)", res.Drill, res.Verdict, res.Reason, time.Since(start).Round(time.Millisecond), res.MTTR)
			var chosen string
			proven := 0
			for _, ev := range res.Events {
				t.Logf("  %s %-16s %s", ev.Time.Format("15:04:05.000"), ev.Kind, ev.Message)
				if b, ok := ev.Attributes["backend"]; ok {
					chosen = b
				}
				if ev.Kind == drills.EventProof {
					proven++
				}
			}
			require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
			require.Positive(t, proven, "the kill was proven")
			want := drills.BackendChaosMesh
			if backend == drills.BackendNative {
				want = drills.BackendNative
			}
			require.Equal(t, string(want), chosen)
			list := &v1alpha1.PodChaosList{}
			require.NoError(t, e.c.List(ctx, list, client.InNamespace(stack.Namespace)))
			require.Empty(t, list.Items, "teardown removed the chaos object")
			readyPods(ctx, t, e.cs)
		})
	}
}
