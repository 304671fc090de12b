package scenarios

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

const ns = "demo"

var (
	target  = drills.Target{Namespace: ns, Name: "payment"}
	fixedT0 = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
)

func deployment() *appsv1.Deployment {
	r := int32(3)
	lbl := map[string]string{"app": "payment"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "payment", Namespace: ns, UID: "dep-uid", Annotations: map[string]string{revisionAnnotation: "1"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &r,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "payment", Image: "payment:v1",
					Env: []corev1.EnvVar{{Name: "MODE", Value: "good"}},
				}}},
			},
		},
	}
}

func pod(name string, phase corev1.PodPhase, lbl map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, UID: types.UID("uid-" + name), Labels: lbl},
		Status:     corev1.PodStatus{Phase: phase, PodIP: "10.0.0." + fmt.Sprint(len(name))},
	}
}

func appPods(n int) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range n {
		out = append(out, pod(fmt.Sprintf("payment-%d", i), corev1.PodRunning, map[string]string{"app": "payment"}))
	}
	return out
}

// fixture is a fake cluster with the payment Deployment, its ConfigMap and
// n Running pods, plus a pending pod and a pod of another app.
func fixture(t *testing.T, n int) *fake.Clientset {
	t.Helper()
	cs := fake.NewClientset(deployment(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "payment-config", Namespace: ns},
		Data:       map[string]string{"LEDGER_MODE": "normal"},
	})
	ctx := context.Background()
	for _, p := range append(appPods(n),
		pod("payment-pending", corev1.PodPending, map[string]string{"app": "payment"}),
		pod("other-0", corev1.PodRunning, map[string]string{"app": "other"})) {
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	return cs
}

func testDeps(cs *fake.Clientset) Deps {
	return Deps{Client: cs, Owner: "test-drill", Now: func() time.Time { return fixedT0 }}
}

// fakeRunner records commands and answers from a script.
type fakeRunner struct {
	mu    sync.Mutex
	cmds  []string
	reply func(cmd string) (string, error)
}

func (r *fakeRunner) Run(_ context.Context, name string, args ...string) (string, error) {
	c := cmdline(name, args)
	r.mu.Lock()
	r.cmds = append(r.cmds, c)
	r.mu.Unlock()
	if r.reply != nil {
		return r.reply(c)
	}
	return "", nil
}

func (r *fakeRunner) matching(sub string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.cmds {
		if strings.Contains(c, sub) {
			out = append(out, c)
		}
	}
	return out
}

// fakeNetns maps pod names to PIDs 100, 101, ...
type fakeNetns struct{}

func (fakeNetns) PID(_ context.Context, p *corev1.Pod) (int, error) {
	return 100 + int(p.Name[len(p.Name)-1]-'0'), nil
}

// fakeTraffic is TrafficEvidence from a table of counts by pod IP; it
// ignores the window but records the last one asked for.
type fakeTraffic struct {
	mu       sync.Mutex
	byIP     map[string]EndpointCounts
	from, to time.Time
}

func (f *fakeTraffic) set(ip string, c EndpointCounts) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.byIP == nil {
		f.byIP = map[string]EndpointCounts{}
	}
	f.byIP[ip] = c
}

func (f *fakeTraffic) Endpoint(ip string, from, to time.Time) EndpointCounts {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.from, f.to = from, to
	return f.byIP[ip]
}

// setPodIP gives a pod of the fake cluster its own IP.
func setPodIP(t *testing.T, cs *fake.Clientset, name, ip string) {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(context.Background(), name, metav1.GetOptions{})
	require.NoError(t, err)
	p.Status.PodIP = ip
	_, err = cs.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
	require.NoError(t, err)
}
