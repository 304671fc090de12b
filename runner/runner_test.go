package runner_test

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
	"github.com/firedrill/firedrill/scenarios"
)

// stubFault is a fault that goes in and out without touching anything and
// reports Effective as told: the runner must never pass a drill whose
// fault was not proven.
type stubFault struct {
	mu        sync.Mutex
	effective bool
	injected  bool
	removed   int
	onInject  func()
	// onStatus runs at the first Status call, after Inject returned.
	onStatus func()
	// onRemove runs at the first Remove call.
	onRemove func()
}

func (f *stubFault) Inject(context.Context) (*scenarios.Injection, error) {
	f.mu.Lock()
	f.injected = true
	cb := f.onInject
	f.mu.Unlock()
	if cb != nil {
		cb()
	}
	return &scenarios.Injection{Type: drills.FaultPodKill, At: time.Now()}, nil
}

func (f *stubFault) Remove(context.Context) error {
	f.mu.Lock()
	cb := f.onRemove
	f.onRemove = nil
	f.mu.Unlock()
	if cb != nil {
		cb()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.injected = false
	f.removed++
	return nil
}

func (f *stubFault) Status(context.Context) (scenarios.Status, error) {
	f.mu.Lock()
	if cb := f.onStatus; cb != nil {
		f.onStatus = nil
		f.mu.Unlock()
		cb()
		f.mu.Lock()
	}
	defer f.mu.Unlock()
	msg := "nothing observed"
	if f.effective {
		msg = "observed"
	}
	return scenarios.Status{Injected: f.injected, Effective: f.injected && f.effective, Message: msg}, nil
}

func (f *stubFault) Describe() string { return "stub fault" }

func (f *stubFault) removals() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removed
}

// fakeTarget is a Deployment, its Service and an EndpointSlice whose one
// endpoint is an httptest server on loopback, in a fake clientset.
func fakeTarget(t *testing.T) *fake.Clientset {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok")) }))
	t.Cleanup(srv.Close)
	host, portStr, err := net.SplitHostPort(srv.Listener.Addr().String())
	require.NoError(t, err)
	port, err := strconv.Atoi(portStr)
	require.NoError(t, err)
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop", Generation: 1,
			Annotations: map[string]string{"deployment.kubernetes.io/revision": "1"}},
		Spec: appsv1.DeploymentSpec{Replicas: ptr.To[int32](1), Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:v1"}}}}},
		Status: appsv1.DeploymentStatus{ObservedGeneration: 1, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1, AvailableReplicas: 1},
	}
	svc := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{Name: "http", Port: int32(port)}}}}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "web-1", Namespace: "shop", Labels: map[string]string{discoveryv1.LabelServiceName: "web"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{host}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To(int32(port))}},
	}
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop",
		Labels: map[string]string{scenarios.DrillsLabel: scenarios.DrillsEnabled}}}
	return fake.NewClientset(ns, dep, svc, slice)
}

func stubDrill(t *testing.T) *drills.Drill {
	t.Helper()
	d := &drills.Drill{
		APIVersion: drills.APIVersion, Kind: drills.KindDrill,
		Metadata: drills.Metadata{Name: "stub"},
		Spec: drills.Spec{
			Target:   drills.Target{Namespace: "shop", Name: "web", Port: 0},
			Traffic:  &drills.Traffic{Rate: 20, Requests: []drills.RequestTemplate{{Path: "/"}}},
			Guard:    &drills.Guard{Enabled: ptr.To(false)},
			Faults:   []drills.Fault{{Type: drills.FaultPodKill, Backend: drills.BackendNative}},
			SLO:      drills.SLO{ErrorRate: ptr.To(0.01), Window: drills.D(2 * time.Second), Stability: drills.D(2 * time.Second)},
			Timeouts: drills.Timeouts{Observe: drills.D(5 * time.Second), Verify: drills.D(10 * time.Second)},
		},
	}
	return d
}

func stubRunner(cs *fake.Clientset, f *stubFault, opts ...runner.Option) *runner.Runner {
	opts = append([]runner.Option{runner.WithBackends(stubRunnerBackends(cs, f)), runner.WithTick(200 * time.Millisecond), runner.WithMinObserve(2 * time.Second)}, opts...)
	return runner.New(cs, opts...)
}

// stubRunnerBackends chooses the stub fault for every fault type.
func stubRunnerBackends(cs *fake.Clientset, f *stubFault) runner.Backends {
	return func(_ context.Context, spec drills.Fault) (*scenarios.Registry, string, error) {
		reg := scenarios.NewRegistry(drills.BackendNative, scenarios.Deps{Client: cs})
		err := reg.Register(spec.Type, scenarios.FactoryFunc(func(context.Context, drills.Fault, drills.Target, scenarios.Deps) (scenarios.Fault, error) {
			return f, nil
		}))
		return reg, "stub backend", err
	}
}

func TestUnprovenFaultIsInconclusive(t *testing.T) {
	cs := fakeTarget(t)
	f := &stubFault{effective: false}
	res, err := stubRunner(cs, f).Run(context.Background(), stubDrill(t))
	require.NoError(t, err)
	require.Equal(t, drills.VerdictInconclusive, res.Verdict, res.Reason)
	var proof *drills.Check
	for i := range res.Checks {
		if res.Checks[i].Kind == drills.CheckProof {
			proof = &res.Checks[i]
		}
	}
	require.NotNil(t, proof, "a proof-of-effect check is recorded")
	require.NotEqual(t, drills.VerdictPassed, proof.Verdict)
	require.Positive(t, f.removals(), "teardown removed the fault")
}

func TestProvenHarmlessFaultPasses(t *testing.T) {
	cs := fakeTarget(t)
	f := &stubFault{effective: true}
	res, err := stubRunner(cs, f).Run(context.Background(), stubDrill(t))
	require.NoError(t, err)
	require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
	require.NotNil(t, res.MTTR)
	require.Positive(t, f.removals())
}

func TestCancelDuringObserveTearsDown(t *testing.T) {
	cs := fakeTarget(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	f := &stubFault{effective: true}
	f.onInject = func() {
		// The fault changes the target (so teardown has something to
		// restore), then the run is interrupted as soon as the fault is
		// in, like SIGTERM mid-drill.
		dep, err := cs.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
		if err == nil {
			dep.Spec.Template.Spec.Containers[0].Image = "web:v2-bad"
			_, _ = cs.AppsV1().Deployments("shop").Update(context.Background(), dep, metav1.UpdateOptions{})
		}
		go cancel()
	}
	d := stubDrill(t)
	d.Spec.Timeouts.Observe = drills.D(time.Minute)
	res, err := stubRunner(cs, f).Run(ctx, d)
	require.NoError(t, err)
	require.NotEqual(t, drills.VerdictPassed, res.Verdict)
	require.Positive(t, f.removals(), "the fault was removed although the run was cancelled")
	dep, err := cs.AppsV1().Deployments("shop").Get(context.Background(), "web", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "web:v1", dep.Spec.Template.Spec.Containers[0].Image, "teardown restored the pre-drill template")
	var teardown *drills.PhaseResult
	for i := range res.Phases {
		if res.Phases[i].Name == "teardown" {
			teardown = &res.Phases[i]
		}
	}
	require.NotNil(t, teardown, "teardown ran")
}

// TestKillSwitchAbortsRunningDrill: the kill switch set while the fault is
// in stops the drill, which removes the fault and ends inconclusive
// ("aborted"), naming who set it and why.
func TestKillSwitchAbortsRunningDrill(t *testing.T) {
	cs := fakeTarget(t)
	f := &stubFault{effective: true}
	f.onInject = func() {
		go func() {
			_ = scenarios.NewKillSwitch(cs).Set(context.Background(), scenarios.Abort{Reason: "INC-1: stop all chaos", By: "sre@ops"})
		}()
	}
	d := stubDrill(t)
	d.Spec.Timeouts.Observe = drills.D(time.Minute)
	start := time.Now()
	res, err := stubRunner(cs, f).Run(context.Background(), d)
	require.NoError(t, err)
	require.Less(t, time.Since(start), 30*time.Second, "stopped long before observe's minute")
	require.Equal(t, drills.VerdictInconclusive, res.Verdict, res.Reason)
	require.Contains(t, res.Reason, "aborted: kill switch default/firedrill-abort set by sre@ops")
	require.Contains(t, res.Reason, "INC-1: stop all chaos")
	require.Positive(t, f.removals(), "the fault was removed")
}

// TestKillSwitchSetRefusesDrill: with the switch set no drill starts; it
// ends inconclusive in preflight and no fault goes in.
func TestKillSwitchSetRefusesDrill(t *testing.T) {
	cs := fakeTarget(t)
	require.NoError(t, scenarios.NewKillSwitch(cs).Set(context.Background(), scenarios.Abort{Reason: "freeze"}))
	f := &stubFault{effective: true}
	res, err := stubRunner(cs, f).Run(context.Background(), stubDrill(t))
	require.NoError(t, err)
	require.Equal(t, drills.VerdictInconclusive, res.Verdict, res.Reason)
	require.Contains(t, res.Reason, "aborted")
	f.mu.Lock()
	defer f.mu.Unlock()
	require.False(t, f.injected, "nothing was injected")
}

// TestDryRunInjectsNothing: a dry run passes preflight, records what the
// fault would do and to which pods, skips every other phase but teardown,
// touches nothing and ends skipped.
func TestDryRunInjectsNothing(t *testing.T) {
	cs := fakeTarget(t)
	f := &stubFault{effective: true}
	res, err := stubRunner(cs, f, runner.WithDryRun()).Run(context.Background(), stubDrill(t))
	require.NoError(t, err)
	require.Equal(t, drills.VerdictSkipped, res.Verdict, res.Reason)
	require.Equal(t, "dry run: preflight passed, nothing injected", res.Reason)
	f.mu.Lock()
	require.False(t, f.injected, "nothing was injected")
	f.mu.Unlock()
	verdicts := map[string]drills.Verdict{}
	for _, p := range res.Phases {
		verdicts[p.Name] = p.Verdict
	}
	require.Equal(t, map[string]drills.Verdict{"preflight": drills.VerdictPassed, "baseline": drills.VerdictSkipped, "inject": drills.VerdictSkipped,
		"observe": drills.VerdictSkipped, "verify": drills.VerdictSkipped, "teardown": drills.VerdictPassed}, verdicts)
	var preview []string
	for _, e := range res.Events {
		if e.Attributes["dryRun"] == "true" {
			preview = append(preview, e.Message)
		}
	}
	require.Len(t, preview, 1, "one preview per fault")
	require.Contains(t, preview[0], "dry run: fault ")
	require.Contains(t, preview[0], "pod(s) matching")
	for _, a := range cs.Actions() {
		require.Contains(t, []string{"get", "list", "watch"}, a.GetVerb(), "a dry run only reads: %s %s", a.GetVerb(), a.GetResource().Resource)
	}
}
