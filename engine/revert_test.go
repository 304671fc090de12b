package engine

import (
	"context"
	"encoding/json"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/firedrill/firedrill/drills"
)

const (
	testNS  = "shop"
	testDep = "payment"
)

var testTarget = Target{Namespace: testNS, Deployment: testDep, Service: testDep, IncidentID: "inc-1"}

func podTemplate(image, hash string) corev1.PodTemplateSpec {
	labels := map[string]string{"app": testDep}
	if hash != "" {
		labels[appsv1.DefaultDeploymentUniqueLabelKey] = hash
	}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: labels},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: image}}},
	}
}

func testDeployment(image string, revision int64) *appsv1.Deployment {
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: testDep, Namespace: testNS, UID: "dep-uid",
			Annotations: map[string]string{deploymentutil.RevisionAnnotation: strconv.FormatInt(revision, 10), "team": "payments"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptrTo(int32(4)),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": testDep}},
			Template: podTemplate(image, ""),
		},
	}
}

func testReplicaSet(image string, revision int64, replicas int32) *appsv1.ReplicaSet {
	hash := "h" + image
	yes := true
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: testDep + "-" + hash, Namespace: testNS, UID: types.UID("rs-" + hash),
			Labels:          map[string]string{"app": testDep, appsv1.DefaultDeploymentUniqueLabelKey: hash},
			Annotations:     map[string]string{deploymentutil.RevisionAnnotation: strconv.FormatInt(revision, 10), "release": image},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: testDep, UID: "dep-uid", Controller: &yes}}},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptrTo(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": testDep, appsv1.DefaultDeploymentUniqueLabelKey: hash}},
			Template: podTemplate(image, hash),
		},
		Status: appsv1.ReplicaSetStatus{Replicas: replicas},
	}
}

// history is a Deployment at revision 3 (image v3, bad) with revisions 1
// and 2 behind it.
func history() []runtime.Object {
	return []runtime.Object{
		testDeployment("v3", 3),
		testReplicaSet("v1", 1, 0), testReplicaSet("v2", 2, 0), testReplicaSet("v3", 3, 4),
	}
}

func getDeployment(t *testing.T, c *fake.Clientset) *appsv1.Deployment {
	t.Helper()
	d, err := c.AppsV1().Deployments(testNS).Get(context.Background(), testDep, metav1.GetOptions{})
	require.NoError(t, err)
	return d
}

func image(d *appsv1.Deployment) string { return d.Spec.Template.Spec.Containers[0].Image }

// simulateController does what the deployment controller does after a
// rollback: the ReplicaSet matching the template gets the next revision.
func simulateController(t *testing.T, c *fake.Clientset) {
	t.Helper()
	ctx := context.Background()
	d := getDeployment(t, c)
	rss, err := c.AppsV1().ReplicaSets(testNS).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	var maxRev int64
	for i := range rss.Items {
		v, _ := deploymentutil.Revision(&rss.Items[i])
		maxRev = max(maxRev, v)
	}
	for i := range rss.Items {
		rs := &rss.Items[i]
		if templatesEqualIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			rs.Annotations[deploymentutil.RevisionAnnotation] = strconv.FormatInt(maxRev+1, 10)
			_, err := c.AppsV1().ReplicaSets(testNS).Update(ctx, rs, metav1.UpdateOptions{})
			require.NoError(t, err)
			d.Annotations[deploymentutil.RevisionAnnotation] = strconv.FormatInt(maxRev+1, 10)
			_, err = c.AppsV1().Deployments(testNS).Update(ctx, d, metav1.UpdateOptions{})
			require.NoError(t, err)
		}
	}
}

func TestRevertPreviousRevisionIsIdempotent(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(history()...)
	r := NewRevert(c, &drills.RevertSettings{})
	require.Equal(t, drills.StrategyRevert, r.Name())

	out, err := r.Act(ctx, testTarget, Decision{Action: ActionRollback})
	require.NoError(t, err)
	require.False(t, out.AlreadyDone)
	require.Equal(t, "3", out.FromVersion)
	require.Equal(t, "2", out.ToVersion)
	d := getDeployment(t, c)
	require.Equal(t, "v2", image(d))
	require.NotContains(t, d.Spec.Template.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	require.Equal(t, "v2", d.Annotations["release"], "annotations come from the replica set")
	require.NotContains(t, d.Annotations, "team", "as kubectl: non-skipped annotations are replaced")
	require.Equal(t, "3", d.Annotations[deploymentutil.RevisionAnnotation], "the revision is kept")
	var rec rollbackRecord
	require.NoError(t, json.Unmarshal([]byte(d.Annotations[AnnotationRollbackOf]), &rec))
	require.Equal(t, rollbackRecord{FromRevision: 3, FromReplicaSet: "payment-hv3", ToRevision: 2, ToReplicaSet: "payment-hv2", Incident: "inc-1"}, rec)

	// Retry before the controller acted: no-op.
	out, err = r.Act(ctx, testTarget, Decision{Action: ActionRollback})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone, out.Message)
	require.Equal(t, "v2", image(getDeployment(t, c)))

	// Retry after the controller made v2 revision 4: the previous revision
	// is now the bad v3, and a plain undo would flip back to it.
	simulateController(t, c)
	out, err = r.Act(ctx, testTarget, Decision{Action: ActionRollback})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone, out.Message)
	require.Equal(t, "3", out.FromVersion)
	require.Equal(t, "2", out.ToVersion)
	require.Equal(t, "v2", image(getDeployment(t, c)))
}

func TestRevertNewBadReleaseAfterEarlierRevert(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(history()...)
	r := NewRevert(c, nil)
	_, err := r.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	simulateController(t, c) // v2 is revision 4

	// A new release v5 arrives (revision 5); the stale record stays.
	d := getDeployment(t, c)
	d.Spec.Template = podTemplate("v5", "")
	d.Annotations[deploymentutil.RevisionAnnotation] = "5"
	_, err = c.AppsV1().Deployments(testNS).Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	_, err = c.AppsV1().ReplicaSets(testNS).Create(ctx, testReplicaSet("v5", 5, 4), metav1.CreateOptions{})
	require.NoError(t, err)

	out, err := r.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.False(t, out.AlreadyDone)
	require.Equal(t, "5", out.FromVersion)
	require.Equal(t, "4", out.ToVersion)
	require.Equal(t, "v2", image(getDeployment(t, c)))
}

func TestRevertToRevision(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(history()...)
	out, err := NewRevert(c, &drills.RevertSettings{ToRevision: 1}).Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.Equal(t, "1", out.ToVersion)
	require.Equal(t, "v1", image(getDeployment(t, c)))

	_, err = NewRevert(fake.NewClientset(history()...), &drills.RevertSettings{ToRevision: 9}).Act(ctx, testTarget, Decision{})
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "unable to find specified revision 9")

	// Reverting to the revision the Deployment already runs is skipped.
	c = fake.NewClientset(history()...)
	out, err = NewRevert(c, &drills.RevertSettings{ToRevision: 3}).Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone)
	require.Contains(t, out.Message, "current template already matches revision 3")
}

func TestRevertRefusesPausedDeployment(t *testing.T) {
	ctx := context.Background()
	objs := history()
	objs[0].(*appsv1.Deployment).Spec.Paused = true
	c := fake.NewClientset(objs...)
	_, err := NewRevert(c, nil).Act(ctx, testTarget, Decision{})
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "is paused")
	require.Equal(t, "v3", image(getDeployment(t, c)))
}

func TestRevertAlreadyDoneEvenIfPausedLater(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(history()...)
	r := NewRevert(c, nil)
	_, err := r.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	d := getDeployment(t, c)
	d.Spec.Paused = true
	_, err = c.AppsV1().Deployments(testNS).Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)
	out, err := r.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone)
}

func TestRevertNoHistory(t *testing.T) {
	c := fake.NewClientset(testDeployment("v3", 3), testReplicaSet("v3", 3, 4))
	_, err := NewRevert(c, nil).Act(context.Background(), testTarget, Decision{})
	require.ErrorIs(t, err, ErrRefused)
	require.ErrorContains(t, err, "no rollout history")

	_, err = NewRevert(fake.NewClientset(), nil).Act(context.Background(), testTarget, Decision{})
	require.Error(t, err)
}

// TestRevertMatchesKubectl checks the revert leaves the Deployment as
// kubectl's DeploymentRollbacker does, apart from the record.
func TestRevertMatchesKubectl(t *testing.T) {
	ctx := context.Background()
	for _, to := range []int64{0, 1, 2} {
		ours := fake.NewClientset(history()...)
		_, err := NewRevert(ours, &drills.RevertSettings{ToRevision: drills.Revision(to)}).Act(ctx, testTarget, Decision{})
		require.NoError(t, err)

		theirs := fake.NewClientset(history()...)
		rb, err := polymorphichelpers.RollbackerFor(appsv1.SchemeGroupVersion.WithKind("Deployment").GroupKind(), theirs)
		require.NoError(t, err)
		msg, err := rb.Rollback(getDeployment(t, theirs), nil, to, util.DryRunNone)
		require.NoError(t, err)
		require.Equal(t, "rolled back", msg)

		a, b := getDeployment(t, ours), getDeployment(t, theirs)
		delete(a.Annotations, AnnotationRollbackOf)
		require.Equal(t, b.Spec, a.Spec, "to revision %d", to)
		require.Equal(t, b.Annotations, a.Annotations, "to revision %d", to)
	}
}

func ptrTo[T any](v T) *T { return &v }

// surgeHistory is history() with a one-at-a-time rolling update and a
// status the rollout check takes as complete.
func surgeHistory() []runtime.Object {
	objs := history()
	d := objs[0].(*appsv1.Deployment)
	one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
	d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
		RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &zero}}
	d.Status = appsv1.DeploymentStatus{Replicas: 4, UpdatedReplicas: 4, AvailableReplicas: 4}
	return objs
}

func TestRevertSurgeRaisesAndPutsBackMaxSurge(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(surgeHistory()...)
	r := NewRevert(c, &drills.RevertSettings{Surge: "100%", Timeout: &drills.Duration{Duration: 5 * time.Second}})
	out, err := r.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.Contains(t, out.Message, "with maxSurge 100%")
	require.Contains(t, out.Message, "maxSurge back to 1")

	// The revert's own patch raised maxSurge, kept maxUnavailable.
	var patched bool
	for _, a := range c.Actions() {
		if p, ok := a.(k8stesting.PatchAction); ok {
			require.Contains(t, string(p.GetPatch()), `"path":"/spec/strategy/rollingUpdate","value":{"maxUnavailable":0,"maxSurge":"100%"}`)
			patched = true
		}
	}
	require.True(t, patched)

	d := getDeployment(t, c)
	require.Equal(t, "v2", image(d))
	require.Equal(t, "1", d.Spec.Strategy.RollingUpdate.MaxSurge.String())
	require.Equal(t, "0", d.Spec.Strategy.RollingUpdate.MaxUnavailable.String())
	var rec rollbackRecord
	require.NoError(t, json.Unmarshal([]byte(d.Annotations[AnnotationRollbackOf]), &rec))
	require.Equal(t, "100%", rec.Surge)
	require.Equal(t, "1", rec.RollingUpdate.MaxSurge.String())
}

func TestRevertSurgeRetryAfterCrashPutsItBack(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(surgeHistory()...)
	r := NewRevert(c, &drills.RevertSettings{Surge: "3", Timeout: &drills.Duration{Duration: 5 * time.Second}})
	// The engine dies right after the patch.
	_, err := r.undo(ctx, testTarget)
	require.NoError(t, err)
	require.Equal(t, "3", getDeployment(t, c).Spec.Strategy.RollingUpdate.MaxSurge.String())

	out, err := r.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.True(t, out.AlreadyDone)
	d := getDeployment(t, c)
	require.Equal(t, "v2", image(d))
	require.Equal(t, "1", d.Spec.Strategy.RollingUpdate.MaxSurge.String())
}

func TestRevertSurgeLeavesAChangedStrategyAlone(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(surgeHistory()...)
	r := NewRevert(c, &drills.RevertSettings{Surge: "100%", Timeout: &drills.Duration{Duration: 5 * time.Second}})
	_, err := r.undo(ctx, testTarget)
	require.NoError(t, err)
	d := getDeployment(t, c)
	two := intstr.FromInt32(2)
	d.Spec.Strategy.RollingUpdate.MaxSurge = &two
	_, err = c.AppsV1().Deployments(testNS).Update(ctx, d, metav1.UpdateOptions{})
	require.NoError(t, err)

	msg, err := r.restoreStrategy(ctx, testTarget)
	require.NoError(t, err)
	require.Empty(t, msg)
	require.Equal(t, "2", getDeployment(t, c).Spec.Strategy.RollingUpdate.MaxSurge.String())
}

func TestRevertSurgeIgnoredForRecreate(t *testing.T) {
	ctx := context.Background()
	objs := surgeHistory()
	objs[0].(*appsv1.Deployment).Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	c := fake.NewClientset(objs...)
	out, err := NewRevert(c, &drills.RevertSettings{Surge: "100%", Timeout: &drills.Duration{Duration: 5 * time.Second}}).Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.NotContains(t, out.Message, "maxSurge")
	d := getDeployment(t, c)
	require.Equal(t, appsv1.RecreateDeploymentStrategyType, d.Spec.Strategy.Type)
	require.Nil(t, d.Spec.Strategy.RollingUpdate)
}

func TestRevertRetriesWhenTheDeploymentChangedMeanwhile(t *testing.T) {
	ctx := context.Background()
	c := fake.NewClientset(history()...)
	patches := 0
	c.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		patches++
		if patches == 1 {
			// What the API server answers when the resourceVersion test
			// of the JSON patch fails: the status moved on.
			return true, nil, apierrors.NewGenericServerResponse(422, "patch", appsv1.Resource("deployments"), testDep, "testing value /metadata/resourceVersion failed", 0, false)
		}
		return false, nil, nil
	})
	out, err := NewRevert(c, nil).Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.Equal(t, 2, patches)
	require.Equal(t, "2", out.ToVersion)
	require.Equal(t, "v2", image(getDeployment(t, c)))

	// A patch that is refused every time is an error, after a few tries.
	c = fake.NewClientset(history()...)
	patches = 0
	c.PrependReactor("patch", "deployments", func(a k8stesting.Action) (bool, runtime.Object, error) {
		patches++
		return true, nil, apierrors.NewGenericServerResponse(422, "patch", appsv1.Resource("deployments"), testDep, "bad", 0, false)
	})
	_, err = NewRevert(c, nil).Act(ctx, testTarget, Decision{})
	require.Error(t, err)
	require.Equal(t, 5, patches)
}
