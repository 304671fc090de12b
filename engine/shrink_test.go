package engine

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

func testPod(name string, rs *appsv1.ReplicaSet) *corev1.Pod {
	yes := true
	return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: testNS, Labels: rs.Spec.Template.Labels,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: rs.Name, UID: rs.UID, Controller: &yes}}}}
}

func shrinkFixture() []runtime.Object {
	good, bad := testReplicaSet("v2", 2, 0), testReplicaSet("v3", 3, 4)
	return append(history(), testPod("bad-1", bad), testPod("bad-2", bad), testPod("good-1", good))
}

func deploymentReplicas(t *testing.T, c *fake.Clientset) int32 {
	t.Helper()
	return *getDeployment(t, c).Spec.Replicas
}

func quarantined(t *testing.T, c *fake.Clientset) []string {
	t.Helper()
	pods, err := c.CoreV1().Pods(testNS).List(context.Background(), metav1.ListOptions{LabelSelector: "firedrill.dev/quarantine=true"})
	require.NoError(t, err)
	var names []string
	for _, p := range pods.Items {
		names = append(names, p.Name)
	}
	return names
}

func TestShrinkPartialIsIdempotent(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(shrinkFixture()...)
	s, err := NewShrink(c, &drills.ShrinkSettings{Step: 1, Interval: drills.D(time.Millisecond)})
	require.NoError(t, err)
	require.Equal(t, drills.StrategyShrink, s.Name())

	out, err := s.Act(ctx, testTarget, Decision{Action: ActionPartialRollback, Percent: 50})
	require.NoError(t, err)
	require.False(t, out.AlreadyDone)
	require.Equal(t, "4 replicas", out.FromVersion)
	require.Equal(t, "2 replicas", out.ToVersion)
	require.Equal(t, int32(2), deploymentReplicas(t, c))
	require.ElementsMatch(t, []string{"bad-1", "bad-2"}, quarantined(t, c))

	out, err = s.Act(ctx, testTarget, Decision{Action: ActionPartialRollback, Percent: 50})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone, out.Message)
	require.Equal(t, int32(2), deploymentReplicas(t, c), "a retry does not shrink by half again")
}

func TestShrinkResumesAfterInterruption(t *testing.T) {
	c := fake.NewClientset(shrinkFixture()...)
	s, err := NewShrink(c, &drills.ShrinkSettings{Step: 1, Interval: drills.D(time.Hour)})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err = s.Act(ctx, testTarget, Decision{Action: ActionRollback, Percent: 100})
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, int32(3), deploymentReplicas(t, c), "one step done before the interruption")
	var rec shrinkRecord
	require.NoError(t, json.Unmarshal([]byte(getDeployment(t, c).Annotations[AnnotationShrink]), &rec))
	require.Equal(t, shrinkRecord{From: 4, Goal: 0, Incident: "inc-1"}, rec)

	// The retry, even with a partial decision, resumes towards the goal.
	s.interval = time.Millisecond
	out, err := s.Act(context.Background(), testTarget, Decision{Action: ActionPartialRollback, Percent: 50})
	require.NoError(t, err)
	require.Equal(t, "0 replicas", out.ToVersion)
	require.Equal(t, int32(0), deploymentReplicas(t, c))

	// A new incident starts from the current size.
	c2 := fake.NewClientset(shrinkFixture()...)
	s2, err := NewShrink(c2, &drills.ShrinkSettings{Step: 2, Interval: drills.D(time.Millisecond)})
	require.NoError(t, err)
	_, err = s2.Act(context.Background(), testTarget, Decision{Percent: 50})
	require.NoError(t, err)
	other := testTarget
	other.IncidentID = "inc-2"
	out, err = s2.Act(context.Background(), other, Decision{Percent: 50})
	require.NoError(t, err)
	require.False(t, out.AlreadyDone)
	require.Equal(t, int32(1), deploymentReplicas(t, c2))
}

func TestShrinkBareReplicaSet(t *testing.T) {
	ctx := context.Background()
	rs := testReplicaSet("v9", 1, 3)
	rs.OwnerReferences = nil
	c := fake.NewClientset(rs, testPod("p-1", rs))
	s, err := NewShrink(c, &drills.ShrinkSettings{Step: 5, Interval: drills.D(time.Millisecond), QuarantineLabel: "quarantine=yes"})
	require.NoError(t, err)
	target := Target{Namespace: testNS, ReplicaSet: rs.Name}
	_, err = s.Act(ctx, target, Decision{Percent: 50})
	require.NoError(t, err)
	got, err := c.AppsV1().ReplicaSets(testNS).Get(ctx, rs.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, int32(1), *got.Spec.Replicas, "3 - ceil(1.5)")
	pod, err := c.CoreV1().Pods(testNS).Get(ctx, "p-1", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "yes", pod.Labels["quarantine"])
}

func TestShrinkErrors(t *testing.T) {
	_, err := NewShrink(fake.NewClientset(), &drills.ShrinkSettings{QuarantineLabel: "nolabel"})
	require.Error(t, err)
	s, err := NewShrink(fake.NewClientset(testDeployment("v3", 3)), nil)
	require.NoError(t, err)
	_, err = s.Act(context.Background(), testTarget, Decision{})
	require.ErrorIs(t, err, ErrRefused)
	_, err = s.Act(context.Background(), Target{Namespace: testNS, ReplicaSet: "nope"}, Decision{})
	require.Error(t, err)
}
