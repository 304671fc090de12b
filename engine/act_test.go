package engine

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

func TestNewStrategies(t *testing.T) {
	g := drills.Guard{Strategies: []drills.Strategy{
		{Name: drills.StrategyTrafficSwitch, TrafficSwitch: &drills.TrafficSwitchSettings{StableSelector: map[string]string{"track": "stable"}}},
		{Name: drills.StrategyRevert},
		{Name: drills.StrategyShrink},
		{Name: drills.StrategyRestore, Restore: &drills.RestoreSettings{DSN: "postgres://x", RestoreSQL: "SELECT 1", VerifySQL: "SELECT true"}},
		{Name: drills.StrategyHuman},
	}}
	got, err := NewStrategies(g, Deps{Client: fake.NewClientset()})
	require.NoError(t, err)
	var names []drills.StrategyName
	for _, s := range got {
		names = append(names, s.Name())
	}
	require.Equal(t, []drills.StrategyName{drills.StrategyTrafficSwitch, drills.StrategyRevert, drills.StrategyShrink,
		drills.StrategyRestore, drills.StrategyHuman}, names)

	_, err = NewStrategies(drills.Guard{Strategies: []drills.Strategy{{Name: "magic"}}}, Deps{Client: fake.NewClientset()})
	require.ErrorContains(t, err, `unknown strategy "magic"`)
	_, err = NewStrategy(drills.Strategy{Name: drills.StrategyRevert}, Deps{})
	require.ErrorContains(t, err, "no Kubernetes client")
	_, err = NewStrategy(drills.Strategy{Name: drills.StrategyTrafficSwitch}, Deps{Client: fake.NewClientset()})
	require.Error(t, err)
	_, err = NewStrategy(drills.Strategy{Name: drills.StrategyRestore}, Deps{})
	require.Error(t, err)
}

func TestTargetOf(t *testing.T) {
	require.Equal(t, Target{Namespace: "shop", Deployment: "payment", Service: "payment-svc"},
		TargetOf(drills.Target{Namespace: "shop", Name: "payment", Service: "payment-svc"}))
}

func TestActionsAreLoggedFromContext(t *testing.T) {
	var buf bytes.Buffer
	ctx := WithLogger(context.Background(), slog.New(slog.NewTextHandler(&buf, nil)))
	c := fake.NewClientset(history()...)
	_, err := NewRevert(c, nil).Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.Contains(t, buf.String(), "engine action")
	require.Contains(t, buf.String(), "strategy=revert")
	_, err = NewRevert(fake.NewClientset(), nil).Act(ctx, testTarget, Decision{})
	require.Error(t, err)
	require.Contains(t, buf.String(), "engine action failed")

	// Without a logger nothing breaks.
	_, err = NewRevert(c, nil).Act(context.Background(), testTarget, Decision{})
	require.NoError(t, err)
}
