package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

func TestGoodTrackerMarksAfterGoodAfterClean(t *testing.T) {
	ctx := context.Background()
	rs := testReplicaSet("v1", 1, 4)
	c := fake.NewClientset(testDeployment("v1", 1), rs)
	g := &goodTracker{client: c, goodAfter: 2 * time.Minute}
	snap := &Snapshot{New: rs}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	marked := func() bool {
		got, err := c.AppsV1().ReplicaSets(testNS).Get(ctx, rs.Name, metav1.GetOptions{})
		require.NoError(t, err)
		_, ok := got.Annotations[AnnotationKnownGood]
		return ok
	}
	for _, step := range []struct {
		at    time.Duration
		clean bool
		mark  bool
	}{
		{0, true, false},
		{90 * time.Second, false, false}, // evidence: the clock starts over
		{100 * time.Second, true, false},
		{219 * time.Second, true, false},
		{220 * time.Second, true, true},
		{300 * time.Second, true, false}, // once
	} {
		did, err := g.observe(ctx, t0.Add(step.at), snap, step.clean)
		require.NoError(t, err)
		require.Equal(t, step.mark, did, "at %s", step.at)
	}
	require.True(t, marked())

	// A mark the API refuses is tried again after another goodAfter, not
	// at every evaluation.
	gone := testReplicaSet("v2", 2, 5)
	denied := &goodTracker{client: fake.NewClientset(), goodAfter: time.Minute}
	_, err := denied.observe(ctx, t0, &Snapshot{New: gone}, true)
	require.NoError(t, err)
	_, err = denied.observe(ctx, t0.Add(time.Minute), &Snapshot{New: gone}, true)
	require.Error(t, err)
	did, err := denied.observe(ctx, t0.Add(90*time.Second), &Snapshot{New: gone}, true)
	require.NoError(t, err, "no retry before another goodAfter")
	require.False(t, did)
	_, err = denied.observe(ctx, t0.Add(2*time.Minute), &Snapshot{New: gone}, true)
	require.Error(t, err, "retried after another goodAfter")

	// A nil tracker (no Kubernetes client) and a missing snapshot do nothing.
	var none *goodTracker
	did, err = none.observe(ctx, t0, snap, true)
	require.NoError(t, err)
	require.False(t, did)
	did, err = g.observe(ctx, t0, nil, true)
	require.NoError(t, err)
	require.False(t, did)
}

// TestRevertTwoBadPushesEndsOnLastKnownGood: v1 served cleanly and was
// marked; v2 and v3 were pushed one after the other and both are bad. The
// revert goes back to v1, not to the previous revision v2.
func TestRevertTwoBadPushesEndsOnLastKnownGood(t *testing.T) {
	ctx := context.Background()
	rs1 := testReplicaSet("v1", 1, 4)
	c := fake.NewClientset(testDeployment("v1", 1), rs1)
	g := &goodTracker{client: c, goodAfter: 2 * time.Minute}
	t0 := time.Now()
	for _, at := range []time.Duration{0, 2 * time.Minute} {
		_, err := g.observe(ctx, t0.Add(at), &Snapshot{New: rs1}, true)
		require.NoError(t, err)
	}

	// Two bad pushes: v2, then v3 before v2 was ever known good.
	for _, rs := range []struct {
		image string
		rev   int64
	}{{"v2", 2}, {"v3", 3}} {
		_, err := c.AppsV1().ReplicaSets(testNS).Create(ctx, testReplicaSet(rs.image, rs.rev, 0), metav1.CreateOptions{})
		require.NoError(t, err)
		_, err = g.observe(ctx, t0.Add(3*time.Minute), &Snapshot{New: testReplicaSet(rs.image, rs.rev, 4)}, false)
		require.NoError(t, err)
	}
	_, err := c.AppsV1().Deployments(testNS).Update(ctx, testDeployment("v3", 3), metav1.UpdateOptions{})
	require.NoError(t, err)

	out, err := NewRevert(c, &drills.RevertSettings{}).Act(ctx, testTarget, Decision{Action: ActionRollback})
	require.NoError(t, err)
	require.Equal(t, "3", out.FromVersion)
	require.Equal(t, "1", out.ToVersion, out.Message)
	require.Equal(t, "v1", image(getDeployment(t, c)))
	require.Equal(t, "v1", ImageOf(out.Restored, ""), "the outcome names the template it restored")
	// An explicit toRevision still wins: TestRevertToRevisionWords.
}

func TestLastKnownGoodPicksNewestBelowCurrent(t *testing.T) {
	mark := func(image string, rev int64) *appsv1.ReplicaSet {
		rs := testReplicaSet(image, rev, 0)
		rs.Annotations[AnnotationKnownGood] = markOf(rs.Name)
		return rs
	}
	v1, v2, v3 := mark("v1", 1), testReplicaSet("v2", 2, 0), mark("v3", 3)
	require.Equal(t, v1, lastKnownGood([]*appsv1.ReplicaSet{v1, v2, v3}, 3), "the current revision is not a target")
	require.Equal(t, v3, lastKnownGood([]*appsv1.ReplicaSet{v3, v1, v2}, 4))
	require.Nil(t, lastKnownGood([]*appsv1.ReplicaSet{v2}, 3))
}

// markOf is the known-good mark of the ReplicaSet named name.
func markOf(name string) string {
	return `{"replicaSet":"` + name + `","at":"2026-01-01T00:00:00Z"}`
}

// TestKnownGoodMarkDoesNotTravel: a mark copied to another ReplicaSet (the
// Deployment controller copies the Deployment's annotations, and revert
// used to copy a ReplicaSet's onto the Deployment) counts for nothing, and
// revert no longer copies it onto the Deployment.
func TestKnownGoodMarkDoesNotTravel(t *testing.T) {
	v1, v2, v3 := testReplicaSet("v1", 1, 0), testReplicaSet("v2", 2, 0), testReplicaSet("v3", 3, 0)
	v1.Annotations[AnnotationKnownGood] = markOf(v1.Name)
	v2.Annotations[AnnotationKnownGood] = markOf(v1.Name) // inherited
	v3.Annotations[AnnotationKnownGood] = "2026-01-01T00:00:00Z"
	require.Equal(t, v1, lastKnownGood([]*appsv1.ReplicaSet{v1, v2, v3}, 4))
	require.False(t, knownGood(v2))
	require.False(t, knownGood(v3))

	// The tracker marks a ReplicaSet whose inherited mark is not its own.
	ctx := context.Background()
	c := fake.NewClientset(testDeployment("v2", 2), v2)
	g := &goodTracker{client: c, goodAfter: time.Minute}
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	for _, at := range []time.Duration{0, time.Minute} {
		_, err := g.observe(ctx, t0.Add(at), &Snapshot{New: v2}, true)
		require.NoError(t, err)
	}
	got, err := c.AppsV1().ReplicaSets(testNS).Get(ctx, v2.Name, metav1.GetOptions{})
	require.NoError(t, err)
	require.True(t, knownGood(got), "marked on its own: %s", got.Annotations[AnnotationKnownGood])

	// Revert to the marked v1 leaves the mark off the Deployment.
	c = fake.NewClientset(testDeployment("v3", 3), v1, testReplicaSet("v3", 3, 4))
	out, err := NewRevert(c, &drills.RevertSettings{}).Act(ctx, testTarget, Decision{Action: ActionRollback})
	require.NoError(t, err)
	require.Equal(t, "1", out.ToVersion, out.Message)
	dep := getDeployment(t, c)
	require.Equal(t, "v1", image(dep))
	require.NotContains(t, dep.Annotations, AnnotationKnownGood)
}

// TestRevertToRevisionWords: lastKnownGood (the default) goes to the marked
// v1, previous to v2 as kubectl rollout undo does, and an explicit
// revision wins over the mark.
func TestRevertToRevisionWords(t *testing.T) {
	ctx := context.Background()
	for _, tt := range []struct {
		to   drills.Revision
		want string
	}{{drills.RevisionLastKnownGood, "1"}, {drills.RevisionPrevious, "2"}, {2, "2"}} {
		c := fake.NewClientset(history()...)
		rs, err := c.AppsV1().ReplicaSets(testNS).Get(ctx, "payment-hv1", metav1.GetOptions{})
		require.NoError(t, err)
		rs.Annotations[AnnotationKnownGood] = markOf(rs.Name)
		_, err = c.AppsV1().ReplicaSets(testNS).Update(ctx, rs, metav1.UpdateOptions{})
		require.NoError(t, err)
		out, err := NewRevert(c, &drills.RevertSettings{ToRevision: tt.to}).Act(ctx, testTarget, Decision{Action: ActionRollback})
		require.NoError(t, err, tt.to.String())
		require.Equal(t, tt.want, out.ToVersion, "toRevision %s: %s", tt.to, out.Message)
	}
}
