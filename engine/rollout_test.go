package engine

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/firedrill/firedrill/drills"
)

func withStatus(gen, observed int64, updated, total, available int32, timedOut bool) *appsv1.Deployment {
	d := testDeployment("v3", 3)
	d.Generation = gen
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: observed, UpdatedReplicas: updated, Replicas: total, AvailableReplicas: available}
	if timedOut {
		d.Status.Conditions = []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse, Reason: deploymentutil.TimedOutReason}}
	}
	return d
}

// TestRolloutStatusMatchesKubectl compares with kubectl's status viewer.
func TestRolloutStatusMatchesKubectl(t *testing.T) {
	viewer := &polymorphichelpers.DeploymentStatusViewer{}
	for _, d := range []*appsv1.Deployment{
		withStatus(2, 1, 4, 4, 4, false), // spec not observed
		withStatus(2, 2, 2, 4, 2, false), // not all updated
		withStatus(2, 2, 4, 6, 4, false), // old replicas left
		withStatus(2, 2, 4, 4, 3, false), // not all available
		withStatus(2, 2, 4, 4, 4, false), // done
		withStatus(2, 2, 2, 4, 2, true),  // progress deadline
	} {
		obj, err := runtime.DefaultUnstructuredConverter.ToUnstructured(d)
		require.NoError(t, err)
		_, wantDone, wantErr := viewer.Status(&unstructured.Unstructured{Object: obj}, 0)
		_, done, err := RolloutStatus(d)
		require.Equal(t, wantDone, done, "%+v", d.Status)
		require.Equal(t, wantErr != nil, err != nil, "%+v", d.Status)
	}
}

func TestRevertWaitsForRollout(t *testing.T) {
	ctx := context.Background()
	settings := &drills.RevertSettings{Timeout: drills.D(200 * time.Millisecond)}

	objs := history()
	objs[0] = withStatus(1, 1, 4, 4, 4, false)
	c := fake.NewClientset(objs...)
	r := NewRevert(c, settings)
	r.pollInterval = 10 * time.Millisecond
	out, err := r.Act(ctx, testTarget, Decision{})
	require.NoError(t, err)
	require.Contains(t, out.Message, "successfully rolled out")

	objs = history()
	objs[0] = withStatus(1, 1, 2, 4, 2, false)
	c = fake.NewClientset(objs...)
	r = NewRevert(c, settings)
	r.pollInterval = 10 * time.Millisecond
	_, err = r.Act(ctx, testTarget, Decision{})
	require.ErrorContains(t, err, "did not complete within 200ms")
	require.ErrorContains(t, err, "2 out of 4 new replicas")
	require.ErrorIs(t, err, context.DeadlineExceeded)
	require.Equal(t, "v2", image(getDeployment(t, c)), "the revert itself happened")

	objs = history()
	objs[0] = withStatus(1, 1, 2, 4, 2, true)
	c = fake.NewClientset(objs...)
	r = NewRevert(c, settings)
	r.pollInterval = 10 * time.Millisecond
	_, err = r.Act(ctx, testTarget, Decision{})
	require.ErrorContains(t, err, "exceeded its progress deadline")
}
