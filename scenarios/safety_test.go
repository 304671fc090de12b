package scenarios

import (
	"context"
	"errors"
	"testing"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/utils/ptr"

	"github.com/firedrill/firedrill/drills"
)

func TestCheckOptIn(t *testing.T) {
	cs := fake.NewClientset(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "on", Labels: map[string]string{DrillsLabel: DrillsEnabled}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "off", Labels: map[string]string{DrillsLabel: "false"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "plain"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system", Labels: map[string]string{DrillsLabel: DrillsEnabled}}},
	)
	tests := []struct {
		ns      string
		allowed []string
		err     error
		msg     string
	}{
		{ns: "on"},
		{ns: "plain", allowed: []string{"plain"}},
		{ns: "off", err: ErrNotOptedIn, msg: "opt it in with `kubectl label namespace off firedrill.dev/drills=enabled` or pass --allow-namespace off"},
		{ns: "plain", allowed: []string{"on"}, err: ErrNotOptedIn, msg: "namespace plain is not labelled firedrill.dev/drills=enabled"},
		{ns: "missing", msg: `namespace missing: namespaces "missing" not found`},
		{ns: "kube-system", allowed: []string{"kube-system"}, err: ErrProtectedNamespace},
	}
	for _, tt := range tests {
		t.Run(tt.ns, func(t *testing.T) {
			err := CheckOptIn(context.Background(), cs, tt.ns, tt.allowed)
			if tt.err == nil && tt.msg == "" {
				require.NoError(t, err)
				return
			}
			require.Error(t, err)
			if tt.err != nil {
				require.True(t, errors.Is(err, tt.err), err)
			}
			require.ErrorContains(t, err, tt.msg)
		})
	}
}

func TestUnsafePodReason(t *testing.T) {
	priv := &corev1.SecurityContext{Privileged: ptr.To(true)}
	tests := []struct {
		name string
		spec corev1.PodSpec
		want string
	}{
		{name: "plain", spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app"}}}},
		{name: "privileged false", spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", SecurityContext: &corev1.SecurityContext{Privileged: ptr.To(false)}}}}},
		{name: "hostNetwork", spec: corev1.PodSpec{HostNetwork: true}, want: "hostNetwork"},
		{name: "everything", spec: corev1.PodSpec{HostNetwork: true, HostPID: true,
			InitContainers: []corev1.Container{{Name: "init", SecurityContext: priv}},
			Containers:     []corev1.Container{{Name: "app"}, {Name: "sidecar", SecurityContext: priv}}},
			want: "hostNetwork, hostPID, privileged container init, privileged container sidecar"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, UnsafePodReason(&corev1.Pod{Spec: tt.spec}))
		})
	}
}

func TestCheckFaultTargets(t *testing.T) {
	labels := map[string]string{"app": "web"}
	dep := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: labels}}}
	pod := func(name string, lbl map[string]string, host bool) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: lbl},
			Spec: corev1.PodSpec{HostNetwork: host, Containers: []corev1.Container{{Name: "c"}}}}
	}
	cs := fake.NewClientset(dep, pod("web-1", labels, false), pod("agent-1", map[string]string{"app": "agent"}, true))
	target := drills.Target{Namespace: "shop", Name: "web"}
	tests := []struct {
		name  string
		fault drills.Fault
		err   string
	}{
		{name: "partition of the target's pods", fault: drills.Fault{Type: drills.FaultNetworkPartition}},
		{name: "partition of a hostNetwork agent", err: "network-partition fault on pod shop/agent-1 (hostNetwork)",
			fault: drills.Fault{Type: drills.FaultNetworkPartition, Selector: &drills.Selector{Labels: map[string]string{"app": "agent"}}}},
		{name: "pod-kill of a hostNetwork agent", fault: drills.Fault{Type: drills.FaultPodKill, Selector: &drills.Selector{Labels: map[string]string{"app": "agent"}}}},
		{name: "bad-image is no pod fault", fault: drills.Fault{Type: drills.FaultBadImage}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cs.ClearActions()
			err := CheckFaultTargets(context.Background(), cs, tt.fault, target)
			if tt.err == "" {
				require.NoError(t, err)
			} else {
				require.ErrorIs(t, err, ErrUnsafeTarget)
				require.ErrorContains(t, err, tt.err)
			}
			for _, a := range cs.Actions() {
				require.Contains(t, []string{"get", "list"}, a.GetVerb(), "only reads")
			}
		})
	}
}

func TestHostFault(t *testing.T) {
	for _, ft := range []drills.FaultType{drills.FaultNetworkPartition, drills.FaultNetworkLoss, drills.FaultNetworkDelay, drills.FaultBandwidth, drills.FaultContainerKill, drills.FaultChaosMesh} {
		require.True(t, HostFault(ft), ft)
	}
	for _, ft := range []drills.FaultType{drills.FaultPodKill, drills.FaultPodFailure, drills.FaultBadImage, drills.FaultBadConfig, drills.FaultDataCorruption} {
		require.False(t, HostFault(ft), ft)
	}
}
