package chaosmesh_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	localcm "github.com/firedrill/firedrill/clusters/local/chaosmesh"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/internal/testenv"
	"github.com/firedrill/firedrill/scenarios"
	"github.com/firedrill/firedrill/scenarios/chaosmesh"
)

// The integration tests share ONE demo stack (payment v1, 3 replicas in
// firedrill-demo on the local cluster) and install the Chaos Mesh CRDs
// into it; the tests that need the real controller-manager start it and
// stop it again. Each test leaves payment with its 3 pods available.

var shared = &stacktest.Shared{Name: "fdcm", SourceDir: "../.."}

func TestMain(m *testing.M) { shared.Main(m) }

var demoTarget = drills.Target{Namespace: stack.Namespace, Name: stack.Deployment}

type env struct {
	st  *stack.Stack
	cfg *rest.Config
	cs  kubernetes.Interface
	c   client.Client
}

// demo brings up the shared stack (or skips) and installs the CRDs.
func demo(t *testing.T) env {
	t.Helper()
	st := shared.Stack(t)
	cfg, err := st.Cluster().RESTConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	c, err := chaosmesh.NewClient(cfg)
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	start := time.Now()
	require.NoError(t, localcm.InstallCRDs(ctx, cfg, time.Minute))
	t.Logf("Chaos Mesh CRDs installed and established in %s", time.Since(start).Round(time.Millisecond))
	return env{st: st, cfg: cfg, cs: cs, c: c}
}

// controller starts the real Chaos Mesh controller-manager for t.
func controller(t *testing.T, e env) {
	t.Helper()
	bin := localcm.DefaultBinDir() + "/chaos-controller-manager"
	if r := testenv.Reason(bin); r != "" {
		testenv.Missing(t, r)
	}
	ctrl := localcm.New(localcm.DirIn(e.st.Cluster().WorkDir()), e.st.Cluster().Kubeconfig(),
		localcm.WithLogger(stacktest.Logger()), localcm.WithProbeNamespace(stack.Namespace))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	start := time.Now()
	require.NoError(t, ctrl.Start(ctx))
	t.Logf("controller-manager pid %d ready in %s", ctrl.PID(), time.Since(start).Round(time.Millisecond))
	t.Cleanup(func() {
		pid := ctrl.PID()
		require.NoError(t, ctrl.Stop(context.Background()))
		require.False(t, ctrl.Running(), "controller-manager pid %d still running after Stop", pid)
	})
}

func deps(t *testing.T, cs kubernetes.Interface) scenarios.Deps {
	return scenarios.Deps{Client: cs, Owner: "it-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")), Logger: stacktest.Logger()}
}

// readyPods waits until payment has its 3 Running, Ready pods.
func readyPods(ctx context.Context, t *testing.T, cs kubernetes.Interface) []corev1.Pod {
	t.Helper()
	require.NoError(t, stack.WaitAvailable(ctx, cs, stack.Namespace, stack.Deployment, 2*time.Minute))
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Pods(stack.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=payment"})
		if err != nil {
			return false, nil
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && isReady(&p) {
				pods = append(pods, p)
			}
		}
		return len(pods) == len(list.Items) && len(pods) == 3, nil
	})
	require.NoError(t, err, "3 ready payment pods, have %d", len(pods))
	return pods
}

func isReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func waitEffective(ctx context.Context, t *testing.T, f scenarios.Fault, timeout time.Duration) scenarios.Status {
	t.Helper()
	var st scenarios.Status
	var serr error
	err := wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		st, serr = f.Status(ctx)
		return serr == nil && st.Effective, nil
	})
	require.NoError(t, err, "fault never effective: %s %v (status error %v)", st.Message, st.Evidence, serr)
	t.Logf("status: %s", st.Message)
	return st
}

// Every object the backend builds is accepted by the real API server with
// the generated CRDs (server-side dry run), the seed's weekly Schedule is
// created for real, and the schema really is enforced.
func TestIntegrationCRDsAcceptObjects(t *testing.T) {
	e := demo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	meta := chaosmesh.Meta{Owner: "it-crds", Expires: time.Now().Add(time.Hour)}
	for _, c := range integrationCases() {
		t.Run(c.name, func(t *testing.T) {
			sel, err := chaosmesh.ResolveSelection(ctx, e.cs, c.spec, demoTarget)
			require.NoError(t, err)
			target := demoTarget
			target.Container = "payment"
			obj, err := chaosmesh.Build(c.spec, target, sel, meta)
			require.NoError(t, err)
			require.NoError(t, e.c.Create(ctx, obj, client.DryRunAll, client.FieldValidation("Strict")), "%s rejected", c.name)
			s, err := chaosmesh.NewSchedule(obj, "*/30 * * * *", drills.ConcurrencyForbid, nil)
			if err == nil {
				require.NoError(t, e.c.Create(ctx, s, client.DryRunAll, client.FieldValidation("Strict")), "schedule of %s rejected", c.name)
			}
		})
	}

	// The seed's weekly drill as a real Schedule object.
	ds, err := drills.LoadFile("../../drills/examples/network-partition-weekly.yaml")
	require.NoError(t, err)
	d := ds[0]
	sel, err := chaosmesh.ResolveSelection(ctx, e.cs, d.Spec.Faults[0], d.Spec.Target)
	require.NoError(t, err)
	s, err := chaosmesh.ScheduleDrill(d, 0, sel, meta)
	require.NoError(t, err)
	require.NoError(t, e.c.Create(ctx, s, client.FieldValidation("Strict")))
	got := &v1alpha1.Schedule{}
	require.NoError(t, e.c.Get(ctx, client.ObjectKeyFromObject(s), got))
	require.Equal(t, "0 3 * * 1", got.Spec.Schedule)
	require.Equal(t, v1alpha1.ScheduleTypeNetworkChaos, got.Spec.Type)
	require.Equal(t, v1alpha1.PartitionAction, got.Spec.NetworkChaos.Action)
	require.Equal(t, "it-crds", got.Annotations[scenarios.AnnotationOwner])
	require.NoError(t, e.c.Delete(ctx, got))
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		return apierrors.IsNotFound(e.c.Get(ctx, client.ObjectKeyFromObject(s), &v1alpha1.Schedule{})), nil
	}))

	// The schema is enforced: an unknown action and an unknown field are
	// rejected by the API server itself.
	bad := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "chaos-mesh.org/v1alpha1", "kind": "PodChaos",
		"metadata": map[string]any{"name": "it-bad", "namespace": stack.Namespace},
		"spec":     map[string]any{"action": "pod-explode", "mode": "one", "selector": map[string]any{"namespaces": []any{stack.Namespace}}},
	}}
	err = e.c.Create(ctx, bad, client.DryRunAll)
	require.True(t, apierrors.IsInvalid(err), "want Invalid, got %v", err)
	require.Contains(t, err.Error(), "pod-explode")
	bad.Object["spec"].(map[string]any)["action"] = "pod-kill"
	bad.Object["spec"].(map[string]any)["gracePeriodd"] = 3
	err = e.c.Create(ctx, bad, client.DryRunAll, client.FieldValidation("Strict"))
	require.Error(t, err)
	require.Contains(t, err.Error(), "gracePeriodd")
}

func integrationCases() []struct {
	name string
	spec drills.Fault
} {
	return []struct {
		name string
		spec drills.Fault
	}{
		{"pod-kill", drills.Fault{Name: "kill", Type: drills.FaultPodKill}},
		{"pod-failure", drills.Fault{Name: "fail", Type: drills.FaultPodFailure, Duration: drills.D(30 * time.Second), Selector: &drills.Selector{Mode: drills.ModeFixedPercent, Value: 34}}},
		{"container-kill", drills.Fault{Name: "ckill", Type: drills.FaultContainerKill, Selector: &drills.Selector{Mode: drills.ModeFixed, Value: 2}}},
		{"network-partition", drills.Fault{Name: "part", Type: drills.FaultNetworkPartition, Duration: drills.D(time.Minute), Network: &drills.NetworkSettings{Direction: drills.DirectionBoth}}},
		{"network-loss", drills.Fault{Name: "loss", Type: drills.FaultNetworkLoss, Network: &drills.NetworkSettings{LossPercent: 25}, Selector: &drills.Selector{Mode: drills.ModeAll}}},
		{"network-delay", drills.Fault{Name: "delay", Type: drills.FaultNetworkDelay, Network: &drills.NetworkSettings{Latency: drills.D(100 * time.Millisecond)}}},
		{"bandwidth", drills.Fault{Name: "bw", Type: drills.FaultBandwidth, Network: &drills.NetworkSettings{Rate: "1mbps"}}},
		{"stress", drills.Fault{Name: "stress", Type: drills.FaultChaosMesh, ChaosMesh: &drills.ChaosMeshSettings{Kind: "StressChaos",
			Spec: map[string]any{"stressors": map[string]any{"cpu": map[string]any{"workers": 1}}}}}},
	}
}

// Without a controller Detect says so and auto picks native.
func TestIntegrationDetectWithoutController(t *testing.T) {
	e := demo(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	a := chaosmesh.Detect(ctx, e.cfg, chaosmesh.WithProbeNamespace(stack.Namespace), chaosmesh.WithProbeTimeout(3*time.Second))
	t.Logf("detect: %+v", a)
	require.True(t, a.CRDs)
	require.False(t, a.Controller)
	require.Contains(t, a.Reason, "no controller-manager runs")
	reg, why, err := chaosmesh.Select(ctx, e.cfg, drills.Fault{Type: drills.FaultPodKill}, demoTarget, deps(t, e.cs))
	require.NoError(t, err)
	require.Equal(t, drills.BackendNative, reg.Backend())
	require.Contains(t, why, "backend auto chose native")
	_, _, err = chaosmesh.Select(ctx, e.cfg, drills.Fault{Type: drills.FaultPodKill, Backend: drills.BackendChaosMesh}, demoTarget, deps(t, e.cs))
	require.ErrorContains(t, err, "asks for backend chaos-mesh")
	// The probe is gone again.
	list := &v1alpha1.PodChaosList{}
	require.NoError(t, e.c.List(ctx, list, client.InNamespace(stack.Namespace)))
	require.Empty(t, list.Items)
}

// The acceptance drill: a Chaos Mesh pod-kill (mode one) through the real
// controller-manager proves the kill (UID gone, record in the status) and
// cleans up; the native backend gives the same proof.
func TestIntegrationPodKillChaosMeshAndNative(t *testing.T) {
	e := demo(t)
	controller(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	readyPods(ctx, t, e.cs)

	spec := drills.Fault{Name: "kill-one", Type: drills.FaultPodKill, Backend: drills.BackendAuto, Selector: &drills.Selector{Mode: drills.ModeOne}}
	reg, why, err := chaosmesh.Select(ctx, e.cfg, spec, demoTarget, deps(t, e.cs))
	require.NoError(t, err)
	t.Logf("backend: %s (%s)", reg.Backend(), why)
	require.Equal(t, drills.BackendChaosMesh, reg.Backend())
	require.Contains(t, why, "backend auto chose chaos-mesh")
	// A fault needing the chaos daemon stays native here, and says why.
	nreg, nwhy, err := chaosmesh.Select(ctx, e.cfg, drills.Fault{Type: drills.FaultNetworkPartition}, demoTarget, deps(t, e.cs))
	require.NoError(t, err)
	require.Equal(t, drills.BackendNative, nreg.Backend())
	require.Contains(t, nwhy, "chaos-daemon")

	proofs := map[drills.Backend]scenarios.Status{}
	for _, r := range []*scenarios.Registry{reg, scenarios.NewNativeRegistry(deps(t, e.cs))} {
		t.Run(string(r.Backend()), func(t *testing.T) {
			before := readyPods(ctx, t, e.cs)
			f, err := r.Build(ctx, spec, demoTarget)
			require.NoError(t, err)
			t.Log(f.Describe())
			start := time.Now()
			inj, err := f.Inject(ctx)
			t.Cleanup(func() { _ = f.Remove(context.WithoutCancel(ctx)) })
			require.NoError(t, err)
			t.Logf("injected in %s: %v", time.Since(start).Round(time.Millisecond), inj.Changes[0].Object)
			require.Len(t, inj.Targets, 1)
			killed := inj.Targets[0]
			require.NotEmpty(t, killed.UID)
			require.True(t, containsUID(before, killed.UID), "killed pod %s was one of the 3", killed.Name)
			st := waitEffective(ctx, t, f, 2*time.Minute)
			t.Logf("effective %s after inject; evidence: %v", time.Since(start).Round(time.Millisecond), st.Evidence)
			p, err := e.cs.CoreV1().Pods(killed.Namespace).Get(ctx, killed.Name, metav1.GetOptions{})
			require.True(t, apierrors.IsNotFound(err) || string(p.UID) != killed.UID, "killed pod %s (uid %s) still there", killed.Name, killed.UID)
			if r.Backend() == drills.BackendChaosMesh {
				ev := strings.Join(st.Evidence, "\n")
				require.Contains(t, ev, "condition AllInjected=True")
				require.Contains(t, ev, "record "+killed.Namespace+"/"+killed.Name+": phase Injected, injected 1 time(s)")
				obj := &v1alpha1.PodChaos{}
				require.NoError(t, e.c.Get(ctx, client.ObjectKey{Namespace: killed.Namespace, Name: strings.Fields(inj.Changes[0].Object)[1][len(killed.Namespace)+1:]}, obj))
				require.Len(t, obj.Status.Experiment.Records, 1)
				require.Equal(t, killed.Namespace+"/"+killed.Name, obj.Status.Experiment.Records[0].Id)
			}
			require.NoError(t, f.Remove(ctx))
			require.NoError(t, f.Remove(ctx), "Remove is idempotent")
			list := &v1alpha1.PodChaosList{}
			require.NoError(t, e.c.List(ctx, list, client.InNamespace(stack.Namespace)))
			require.Empty(t, list.Items, "no chaos object left")
			for _, p := range readyPods(ctx, t, e.cs) {
				require.NotEqual(t, killed.UID, string(p.UID))
			}
			proofs[r.Backend()] = st
		})
	}
	require.Len(t, proofs, 2)
	for b, st := range proofs {
		require.True(t, st.Effective, b)
		require.Contains(t, st.Message, "1 of 1 killed pods gone; 3 of 3 pods running again", b)
	}
}

// pod-failure through the real controller: the pod stops being Ready and
// recovers after Remove.
func TestIntegrationPodFailureChaosMesh(t *testing.T) {
	e := demo(t)
	controller(t, e)
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	readyPods(ctx, t, e.cs)
	c, err := chaosmesh.NewClient(e.cfg)
	require.NoError(t, err)
	reg, err := chaosmesh.NewRegistry(deps(t, e.cs), c)
	require.NoError(t, err)
	f, err := reg.Build(ctx, drills.Fault{Name: "fail-one", Type: drills.FaultPodFailure, Duration: drills.D(time.Minute)}, demoTarget)
	require.NoError(t, err)
	inj, err := f.Inject(ctx)
	t.Cleanup(func() { _ = f.Remove(context.WithoutCancel(ctx)) })
	require.NoError(t, err)
	require.Len(t, inj.Targets, 1)
	st := waitEffective(ctx, t, f, 90*time.Second)
	require.Contains(t, strings.Join(st.Evidence, "\n"), "is not Ready")
	start := time.Now()
	require.NoError(t, f.Remove(ctx))
	readyPods(ctx, t, e.cs)
	t.Logf("recovered %s after Remove", time.Since(start).Round(time.Millisecond))
}

func containsUID(pods []corev1.Pod, uid string) bool {
	for _, p := range pods {
		if string(p.UID) == uid {
			return true
		}
	}
	return false
}
