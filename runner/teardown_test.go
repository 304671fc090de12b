package runner_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"
)

// updateTarget changes the target Deployment as fn says, its status
// following (every replica updated and available).
func updateTarget(t *testing.T, cs *fake.Clientset, fn func(*appsv1.Deployment)) {
	t.Helper()
	ctx := context.Background()
	dep, err := cs.AppsV1().Deployments("shop").Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	fn(dep)
	dep, err = cs.AppsV1().Deployments("shop").Update(ctx, dep, metav1.UpdateOptions{})
	require.NoError(t, err)
	n := *dep.Spec.Replicas
	dep.Status = appsv1.DeploymentStatus{ObservedGeneration: dep.Generation, Replicas: n, UpdatedReplicas: n, ReadyReplicas: n, AvailableReplicas: n}
	_, err = cs.AppsV1().Deployments("shop").UpdateStatus(ctx, dep, metav1.UpdateOptions{})
	require.NoError(t, err)
}

func setImage(img string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = img }
}

// TestTeardownRevertsOnlyTheDrillsChanges: the fault sets a bad image;
// during the drill someone else changes replicas (an HPA) or the image
// (a pipeline). Teardown puts back only what still holds the drill's value
// and says what it left as found.
func TestTeardownRevertsOnlyTheDrillsChanges(t *testing.T) {
	tests := []struct {
		name      string
		during    func(*appsv1.Deployment) // someone else's change while the fault is in
		wantImage string
		wantRepl  int32
		wantLeft  string
	}{
		{name: "nobody else", wantImage: "web:v1", wantRepl: 1},
		{name: "an HPA scales up", during: func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](3) },
			wantImage: "web:v1", wantRepl: 3, wantLeft: "replicas 3 (1 before the drill)"},
		{name: "a pipeline rolls out a newer image", during: setImage("web:v3"),
			wantImage: "web:v3", wantRepl: 1, wantLeft: "the pod template (changed during the drill by someone else)"},
		{name: "someone pauses the rollout", during: func(d *appsv1.Deployment) { d.Spec.Paused = true },
			wantImage: "web:v1", wantRepl: 1, wantLeft: "paused true (false before the drill)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fakeTarget(t)
			f := &stubFault{effective: true}
			f.onInject = func() { updateTarget(t, cs, setImage("web:v2-bad")) } // the fault's own change
			if tt.during != nil {
				// Someone else, after the fault went in.
				f.onStatus = func() { updateTarget(t, cs, tt.during) }
			}
			res, err := stubRunner(cs, f).Run(context.Background(), stubDrill(t))
			require.NoError(t, err)
			require.Positive(t, f.removals())
			dep, err := cs.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
			require.NoError(t, err)
			require.Equal(t, tt.wantImage, dep.Spec.Template.Spec.Containers[0].Image)
			require.Equal(t, tt.wantRepl, *dep.Spec.Replicas)
			var left []string
			for _, e := range res.Events {
				if strings.Contains(e.Message, "as found") {
					left = append(left, e.Message)
				}
			}
			if tt.wantLeft == "" {
				require.Empty(t, left)
				return
			}
			require.Len(t, left, 1)
			require.Contains(t, left[0], "teardown left Deployment shop/web as found: "+tt.wantLeft)
		})
	}
}

// TestTeardownRevertsWhatRemoveWrote: what a fault's Remove writes back is
// the drill's too. The fault pushes a bad image with a fresh push stamp;
// its Remove sets the image back and drops the stamp, which leaves the
// template neither as before the drill (which carried an older stamp) nor
// as the fault's Inject left it. Teardown still puts it back and leaves
// nothing "as found".
func TestTeardownRevertsWhatRemoveWrote(t *testing.T) {
	cs := fakeTarget(t)
	const stamp = "firedrill.dev/pushed-at"
	updateTarget(t, cs, func(d *appsv1.Deployment) { d.Spec.Template.Annotations = map[string]string{stamp: "earlier"} })
	f := &stubFault{effective: true}
	f.onInject = func() {
		updateTarget(t, cs, func(d *appsv1.Deployment) {
			d.Spec.Template.Annotations[stamp] = "now"
			d.Spec.Template.Spec.Containers[0].Image = "web:v2-bad"
		})
	}
	f.onRemove = func() {
		updateTarget(t, cs, func(d *appsv1.Deployment) {
			delete(d.Spec.Template.Annotations, stamp)
			d.Spec.Template.Spec.Containers[0].Image = "web:v1"
		})
	}
	res, err := stubRunner(cs, f).Run(context.Background(), stubDrill(t))
	require.NoError(t, err)
	require.Positive(t, f.removals())
	dep, err := cs.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{stamp: "earlier"}, dep.Spec.Template.Annotations)
	require.Equal(t, "web:v1", dep.Spec.Template.Spec.Containers[0].Image)
	for _, e := range res.Events {
		require.NotContains(t, e.Message, "as found")
	}
}
