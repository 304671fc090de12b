package runner_test

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
	"github.com/firedrill/firedrill/scenarios"
)

// writes are the actions of the fake clientset that change something.
func writes(cs *fake.Clientset) []string {
	var out []string
	for _, a := range cs.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			out = append(out, a.GetVerb()+" "+a.GetResource().Resource)
		}
	}
	return out
}

func setNamespaceLabels(t *testing.T, cs *fake.Clientset, labels map[string]string) {
	t.Helper()
	ns, err := cs.CoreV1().Namespaces().Get(context.Background(), "shop", metav1.GetOptions{})
	require.NoError(t, err)
	ns.Labels = labels
	_, err = cs.CoreV1().Namespaces().Update(context.Background(), ns, metav1.UpdateOptions{})
	require.NoError(t, err)
	cs.ClearActions()
}

func addPod(t *testing.T, cs *fake.Clientset, name string, mutate func(*corev1.Pod)) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:v1"}}},
		// Pending: the preflight's sweep (which enters Running pods'
		// netns on this node) skips them; the safety check does not.
		Status: corev1.PodStatus{Phase: corev1.PodPending},
	}
	if mutate != nil {
		mutate(p)
	}
	_, err := cs.CoreV1().Pods("shop").Create(context.Background(), p, metav1.CreateOptions{})
	require.NoError(t, err)
	cs.ClearActions()
}

func TestOptInNamespaces(t *testing.T) {
	tests := []struct {
		name     string
		labels   map[string]string
		opts     []runner.Option
		selector *drills.Selector
		refused  string
	}{
		{name: "labelled namespace", labels: map[string]string{scenarios.DrillsLabel: scenarios.DrillsEnabled}},
		{name: "no label", refused: "kubectl label namespace shop firedrill.dev/drills=enabled"},
		{name: "label with another value", labels: map[string]string{scenarios.DrillsLabel: "disabled"}, refused: "--allow-namespace shop"},
		{name: "no label but allowed", opts: []runner.Option{runner.WithAllowedNamespaces("other", "shop")}},
		{name: "allowed another namespace", opts: []runner.Option{runner.WithAllowedNamespaces("other")}, refused: "namespace shop is not labelled"},
		{name: "a fault selecting pods in a namespace that did not opt in",
			labels:   map[string]string{scenarios.DrillsLabel: scenarios.DrillsEnabled},
			selector: &drills.Selector{Namespace: "billing", Labels: map[string]string{"app": "x"}},
			refused:  `namespace billing: namespaces "billing" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fakeTarget(t)
			setNamespaceLabels(t, cs, tt.labels)
			f := &stubFault{effective: true}
			d := stubDrill(t)
			d.Spec.Faults[0].Selector = tt.selector
			res, err := stubRunner(cs, f, tt.opts...).Run(context.Background(), d)
			require.NoError(t, err)
			if tt.refused == "" {
				require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
				require.Positive(t, f.removals(), "the fault went in and out")
				return
			}
			require.Equal(t, drills.VerdictError, res.Verdict, "refused in preflight")
			require.Contains(t, res.Reason, tt.refused)
			require.False(t, f.injected, "no fault went in")
			require.Zero(t, f.removals(), "nothing to remove")
			require.Empty(t, writes(cs), "nothing was created, patched or deleted")
		})
	}
}

func TestHostPodsRefusedAsNetworkTargets(t *testing.T) {
	tests := []struct {
		name    string
		fault   drills.FaultType
		pod     func(*corev1.Pod)
		refused string
	}{
		{name: "plain pods take a partition", fault: drills.FaultNetworkPartition},
		{name: "hostNetwork pod, partition", fault: drills.FaultNetworkPartition,
			pod: func(p *corev1.Pod) { p.Spec.HostNetwork = true }, refused: "network-partition fault on pod shop/web-b (hostNetwork)"},
		{name: "hostPID pod, container-kill", fault: drills.FaultContainerKill,
			pod: func(p *corev1.Pod) { p.Spec.HostPID = true }, refused: "(hostPID)"},
		{name: "privileged pod, partition", fault: drills.FaultNetworkPartition,
			pod: func(p *corev1.Pod) {
				p.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}
			}, refused: "(privileged container web)"},
		{name: "hostNetwork pod, pod-kill goes through the API", fault: drills.FaultPodKill,
			pod: func(p *corev1.Pod) { p.Spec.HostNetwork = true }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs := fakeTarget(t)
			addPod(t, cs, "web-a", nil)
			addPod(t, cs, "web-b", tt.pod)
			f := &stubFault{effective: true}
			d := stubDrill(t)
			d.Spec.Faults[0].Type = tt.fault
			res, err := stubRunner(cs, f).Run(context.Background(), d)
			require.NoError(t, err)
			if tt.refused == "" {
				require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
				require.Positive(t, f.removals())
				return
			}
			require.Equal(t, drills.VerdictError, res.Verdict, "refused in preflight")
			require.Contains(t, res.Reason, tt.refused)
			require.Zero(t, f.removals())
			require.Empty(t, writes(cs))
		})
	}
}
