package engine

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

func TestTrafficSwitch(t *testing.T) {
	ctx := context.Background()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: testDep, Namespace: testNS},
		Spec:       corev1.ServiceSpec{Selector: map[string]string{"app": testDep, "track": "canary"}},
	}
	c := fake.NewClientset(svc)
	s, err := NewTrafficSwitch(c, &drills.TrafficSwitchSettings{StableSelector: map[string]string{"app": testDep, "track": "stable"}})
	require.NoError(t, err)
	require.Equal(t, drills.StrategyTrafficSwitch, s.Name())

	out, err := s.Act(ctx, testTarget, Decision{Action: ActionRollback})
	require.NoError(t, err)
	require.False(t, out.AlreadyDone)
	require.Equal(t, "app=payment,track=canary", out.FromVersion)
	require.Equal(t, "app=payment,track=stable", out.ToVersion)
	got, err := c.CoreV1().Services(testNS).Get(ctx, testDep, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"app": testDep, "track": "stable"}, got.Spec.Selector)

	out, err = s.Act(ctx, testTarget, Decision{Action: ActionRollback})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone)

	// The selector is replaced, not merged: extra keys go.
	s2, err := NewTrafficSwitch(c, &drills.TrafficSwitchSettings{StableSelector: map[string]string{"app": testDep}})
	require.NoError(t, err)
	_, err = s2.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	got, err = c.CoreV1().Services(testNS).Get(ctx, testDep, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"app": testDep}, got.Spec.Selector)
}

func TestTrafficSwitchErrors(t *testing.T) {
	_, err := NewTrafficSwitch(fake.NewClientset(), nil)
	require.Error(t, err)
	s, err := NewTrafficSwitch(fake.NewClientset(), &drills.TrafficSwitchSettings{Service: "other", StableSelector: map[string]string{"a": "b"}})
	require.NoError(t, err)
	_, err = s.Act(context.Background(), testTarget, Decision{})
	require.ErrorContains(t, err, "get service shop/other")
	_, err = s.Act(context.Background(), Target{Namespace: testNS}, Decision{})
	require.Error(t, err)
}
