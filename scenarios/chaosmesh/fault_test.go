package chaosmesh

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	k8sfake "k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/scenarios"
)

const ns = "firedrill-demo"

var target = drills.Target{Namespace: ns, Name: "payment"}

func pod(name string, uid string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID(uid), Labels: map[string]string{"app": "payment"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "payment", Image: "payment:v1"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.244.0." + uid[len(uid)-1:],
			Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}
}

func fakeCluster(t *testing.T) (*k8sfake.Clientset, client.Client) {
	t.Helper()
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "payment", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "payment"}},
			Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "payment"}}}},
		},
	}
	cs := k8sfake.NewClientset(dep, pod("payment-a", "uid-1"), pod("payment-b", "uid-2"), pod("payment-c", "uid-3"))
	s, err := Scheme()
	require.NoError(t, err)
	c := fake.NewClientBuilder().WithScheme(s).WithStatusSubresource(&v1alpha1.PodChaos{}, &v1alpha1.NetworkChaos{}).Build()
	return cs, c
}

// fakeController does what the Chaos Mesh controller does for pod-kill:
// finalizer, kill one selected pod (the deployment replaces it), record,
// AllInjected; on deletion recover and drop the finalizer.
func fakeController(ctx context.Context, t *testing.T, cs kubernetes.Interface, c client.Client) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		n := 10
		// The fake client has no watch: act on every object each tick
		// until the test ends.
		_ = wait.PollUntilContextCancel(ctx, 20*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			list := &v1alpha1.PodChaosList{}
			if err := c.List(ctx, list); err != nil {
				return false, nil
			}
			for i := range list.Items {
				pc := &list.Items[i]
				switch {
				case pc.DeletionTimestamp != nil:
					pc.Finalizers = nil
					_ = c.Update(ctx, pc)
				case !slices.Contains(pc.Finalizers, RecordsFinalizer):
					pc.Finalizers = append(pc.Finalizers, RecordsFinalizer)
					_ = c.Update(ctx, pc)
				case len(pc.Status.Experiment.Records) == 0:
					pods, _ := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
					victim := pods.Items[0]
					_ = cs.CoreV1().Pods(ns).Delete(ctx, victim.Name, metav1.DeleteOptions{})
					n++
					_, _ = cs.CoreV1().Pods(ns).Create(ctx, pod(fmt.Sprintf("payment-n%d", n), fmt.Sprintf("uid-%d", n)), metav1.CreateOptions{})
					pc.Status.Experiment.Records = []*v1alpha1.Record{{Id: ns + "/" + victim.Name, SelectorKey: ".", Phase: v1alpha1.Injected, InjectedCount: 1}}
					pc.Status.Conditions = []v1alpha1.ChaosCondition{
						{Type: v1alpha1.ConditionSelected, Status: corev1.ConditionTrue},
						{Type: v1alpha1.ConditionAllInjected, Status: corev1.ConditionTrue},
					}
					if err := c.Status().Update(ctx, pc); err != nil {
						t.Logf("fake controller: %v", err)
					}
				}
			}
			return false, nil
		})
	}()
	return &wg
}

func testDeps(cs kubernetes.Interface) scenarios.Deps {
	return scenarios.Deps{Client: cs, Owner: "unit", Now: func() time.Time { return time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC) }}
}

func TestPodKillLifecycle(t *testing.T) {
	cs, c := fakeCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	wg := fakeController(ctx, t, cs, c)
	defer wg.Wait()
	defer cancel()
	reg, err := NewRegistry(testDeps(cs), c, WithPollInterval(10*time.Millisecond), WithInjectTimeout(5*time.Second), WithRemoveTimeout(5*time.Second))
	require.NoError(t, err)
	require.Equal(t, drills.BackendChaosMesh, reg.Backend())
	require.Equal(t, Types, reg.Types())
	f, err := reg.Build(ctx, drills.Fault{Type: drills.FaultPodKill}, target)
	require.NoError(t, err)
	require.Contains(t, f.Describe(), "pod-kill via Chaos Mesh PodChaos: mode one of the pods app=payment in firedrill-demo")
	_, err = f.Status(ctx)
	require.ErrorIs(t, err, scenarios.ErrNotInjected)

	inj, err := f.Inject(ctx)
	require.NoError(t, err)
	require.Len(t, inj.Targets, 1)
	require.Equal(t, scenarios.Target{Kind: "Pod", Namespace: ns, Name: "payment-a", UID: "uid-1", IP: "10.244.0.1"}, inj.Targets[0])
	require.Len(t, inj.Changes, 1)
	require.Equal(t, "create", inj.Changes[0].Action)
	require.Regexp(t, `^PodChaos firedrill-demo/fd-pod-kill-[0-9a-f]{8}$`, inj.Changes[0].Object)
	require.Contains(t, inj.Changes[0].Detail, `"firedrill.dev/expires":"2026-11-26T13:00:00Z"`)

	st, err := f.Status(ctx)
	require.NoError(t, err)
	require.True(t, st.Injected)
	require.True(t, st.Effective, "%s %v", st.Message, st.Evidence)
	require.Equal(t, "1 of 1 killed pods gone; 3 of 3 pods running again", st.Message)
	require.Contains(t, st.Evidence, "record firedrill-demo/payment-a: phase Injected, injected 1 time(s)")
	require.Contains(t, st.Evidence, inj.Changes[0].Object+" condition AllInjected=True")
	require.Contains(t, st.Evidence, "killed pod payment-a had uid uid-1")

	require.NoError(t, f.Remove(ctx))
	require.NoError(t, f.Remove(ctx), "idempotent")
	list := &v1alpha1.PodChaosList{}
	require.NoError(t, c.List(ctx, list))
	require.Empty(t, list.Items)
	_, err = f.Status(ctx)
	require.ErrorIs(t, err, scenarios.ErrNotInjected)
}

func TestInjectWithoutController(t *testing.T) {
	cs, c := fakeCluster(t)
	ctx := context.Background()
	reg, err := NewRegistry(testDeps(cs), c, WithPollInterval(10*time.Millisecond), WithInjectTimeout(200*time.Millisecond))
	require.NoError(t, err)
	f, err := reg.Build(ctx, drills.Fault{Type: drills.FaultPodKill}, target)
	require.NoError(t, err)
	_, err = f.Inject(ctx)
	require.ErrorContains(t, err, "not injected within 200ms (no status: is the Chaos Mesh controller-manager running?)")
	st, err := f.Status(ctx)
	require.NoError(t, err)
	require.False(t, st.Injected)
	require.False(t, st.Effective)
	// Remove still deletes what Inject created (no finalizer without a
	// controller).
	require.NoError(t, f.Remove(ctx))
	list := &v1alpha1.PodChaosList{}
	require.NoError(t, c.List(ctx, list))
	require.Empty(t, list.Items)
}

func TestInjectChecksBeforeApplying(t *testing.T) {
	cs, c := fakeCluster(t)
	ctx := context.Background()
	deps := testDeps(cs)
	deps.MaxShare = 0.5
	reg, err := NewRegistry(deps, c)
	require.NoError(t, err)

	f, err := reg.Build(ctx, drills.Fault{Type: drills.FaultPodKill, Selector: &drills.Selector{Mode: drills.ModeAll}}, target)
	require.NoError(t, err)
	_, err = f.Inject(ctx)
	require.ErrorIs(t, err, scenarios.ErrBlastRadius)

	// fixed-percent 34 of 3 pods hits exactly one (Chaos Mesh rounds down).
	f, err = reg.Build(ctx, drills.Fault{Type: drills.FaultPodKill, Selector: &drills.Selector{Mode: drills.ModeFixedPercent, Value: 34}}, target)
	require.NoError(t, err)
	require.Equal(t, 1, f.(*fault).sel.count(3))
	f, err = reg.Build(ctx, drills.Fault{Type: drills.FaultPodKill, Selector: &drills.Selector{Mode: drills.ModeFixedPercent, Value: 20}}, target)
	require.NoError(t, err)
	_, err = f.Inject(ctx)
	require.ErrorIs(t, err, scenarios.ErrNoPods)

	_, err = reg.Build(ctx, drills.Fault{Type: drills.FaultPodKill, Selector: &drills.Selector{Mode: drills.ModeFixedPercent, Value: -5}}, target)
	require.ErrorIs(t, err, ErrInvalid)
	_, err = reg.Build(ctx, drills.Fault{Type: drills.FaultPodKill, Selector: &drills.Selector{Namespace: "kube-system", Labels: map[string]string{"k8s-app": "x"}}}, target)
	require.ErrorIs(t, err, scenarios.ErrProtectedNamespace)
	_, err = reg.Build(ctx, drills.Fault{Type: drills.FaultBadImage}, target)
	require.ErrorContains(t, err, `chaos-mesh backend has no fault type "bad-image"`)

	list := &v1alpha1.PodChaosList{}
	require.NoError(t, c.List(ctx, list))
	require.Empty(t, list.Items, "nothing applied")
}

func TestContainerKillTakesTheDeploymentsContainer(t *testing.T) {
	cs, c := fakeCluster(t)
	reg, err := NewRegistry(testDeps(cs), c)
	require.NoError(t, err)
	f, err := reg.Build(context.Background(), drills.Fault{Type: drills.FaultContainerKill}, target)
	require.NoError(t, err)
	obj, err := f.(*fault).build()
	require.NoError(t, err)
	require.Equal(t, []string{"payment"}, obj.(*v1alpha1.PodChaos).Spec.ContainerNames)
}

func TestDryRun(t *testing.T) {
	cs, c := fakeCluster(t)
	deps := testDeps(cs)
	deps.DryRun = true
	reg, err := NewRegistry(deps, c)
	require.NoError(t, err)
	f, err := reg.Build(context.Background(), drills.Fault{Type: drills.FaultNetworkLoss, Network: &drills.NetworkSettings{LossPercent: 20}}, target)
	require.NoError(t, err)
	inj, err := f.Inject(context.Background())
	require.NoError(t, err)
	require.True(t, inj.DryRun)
	require.Contains(t, inj.Changes[0].Detail, `"loss":{"loss":"20","correlation":"0"}`)
	list := &v1alpha1.NetworkChaosList{}
	require.NoError(t, c.List(context.Background(), list))
	require.Empty(t, list.Items, "a dry run creates nothing")
}

func TestChoose(t *testing.T) {
	full := Availability{CRDs: true, Controller: true, Daemon: true, Reason: "all there"}
	noDaemon := Availability{CRDs: true, Controller: true, Reason: "no daemon"}
	none := Availability{Reason: "Chaos Mesh CRDs are not installed"}
	kill := drills.Fault{Name: "k", Type: drills.FaultPodKill}
	part := drills.Fault{Name: "p", Type: drills.FaultNetworkPartition}
	stress := drills.Fault{Name: "s", Type: drills.FaultChaosMesh, ChaosMesh: &drills.ChaosMeshSettings{Kind: "StressChaos"}}
	with := func(f drills.Fault, b drills.Backend) drills.Fault { f.Backend = b; return f }
	cases := []struct {
		name    string
		spec    drills.Fault
		a       Availability
		want    drills.Backend
		reason  string
		wantErr string
	}{
		{"auto pod-kill full", kill, full, drills.BackendChaosMesh, "backend auto chose chaos-mesh: all there", ""},
		{"auto pod-kill no daemon", kill, noDaemon, drills.BackendChaosMesh, "chose chaos-mesh", ""},
		{"auto pod-kill none", kill, none, drills.BackendNative, "backend auto chose native: Chaos Mesh CRDs are not installed", ""},
		{"auto partition no daemon", part, noDaemon, drills.BackendNative, "network-partition needs Chaos Mesh's chaos-daemon", ""},
		{"auto partition full", part, full, drills.BackendChaosMesh, "chose chaos-mesh", ""},
		{"auto bad-image", drills.Fault{Type: drills.FaultBadImage}, full, drills.BackendNative, "the Chaos Mesh backend has no bad-image fault", ""},
		{"native", with(kill, drills.BackendNative), full, drills.BackendNative, "backend native was asked for", ""},
		{"chaos-mesh none", with(kill, drills.BackendChaosMesh), none, "", "", "asks for backend chaos-mesh, but Chaos Mesh CRDs are not installed"},
		{"chaos-mesh partition no daemon", with(part, drills.BackendChaosMesh), noDaemon, "", "", "needs Chaos Mesh's chaos-daemon"},
		{"auto stress none", stress, none, "", "", "is a Chaos Mesh StressChaos, but"},
		{"unknown backend", with(kill, "litmus"), full, "", "", `unknown backend "litmus"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, why, err := Choose(c.spec, c.a)
			if c.wantErr != "" {
				require.ErrorContains(t, err, c.wantErr)
				return
			}
			require.NoError(t, err)
			require.Equal(t, c.want, got)
			require.Contains(t, why, c.reason)
		})
	}
}

func TestSweep(t *testing.T) {
	_, c := fakeCluster(t)
	ctx := context.Background()
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	mk := func(name, owner string, exp time.Time, managed bool) {
		obj, err := Build(drills.Fault{Name: name, Type: drills.FaultPodKill}, target, goldenSel, Meta{Name: name, Owner: owner, Expires: exp})
		require.NoError(t, err)
		if !managed {
			obj.SetLabels(nil)
		}
		require.NoError(t, c.Create(ctx, obj))
	}
	mk("expired", "run-1", now.Add(-time.Minute), true)
	mk("live", "run-2", now.Add(time.Hour), true)
	mk("foreign", "run-1", now.Add(-time.Hour), false)
	done, err := Sweep(ctx, c, ns, "", now)
	require.NoError(t, err)
	require.Equal(t, []string{"PodChaos firedrill-demo/expired deleted (owner run-1)"}, done)
	done, err = Sweep(ctx, c, "", "run-2", now)
	require.NoError(t, err)
	require.Equal(t, []string{"PodChaos firedrill-demo/live deleted (owner run-2)"}, done)
	list := &v1alpha1.PodChaosList{}
	require.NoError(t, c.List(ctx, list))
	require.Len(t, list.Items, 1)
	require.Equal(t, "foreign", list.Items[0].Name)
}
