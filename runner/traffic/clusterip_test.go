package traffic

import (
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
)

func svcWith(name, ip string, ports ...corev1.ServicePort) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec:       corev1.ServiceSpec{ClusterIP: ip, Ports: ports},
	}
}

func TestClusterIPTargets(t *testing.T) {
	ctx := context.Background()
	web := svcWith("web", "10.96.0.20",
		corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
		corev1.ServicePort{Name: "metrics", Port: 9090, TargetPort: intstr.FromString("metrics")},
		corev1.ServicePort{Name: "same", Port: 7000})
	cs := fake.NewClientset(web, svcWith("headless", corev1.ClusterIPNone, corev1.ServicePort{Port: 80}))
	_ = cs.Tracker().Add(slice("web-1", "web", map[string]int32{"http": 8080, "metrics": 9100}, ep{"10.244.0.5", true}))

	for _, tc := range []struct {
		name string
		opts []ServiceOption
		want string
	}{
		{"first port by default", nil, "10.96.0.20:80"},
		{"by Service port name", []ServiceOption{WithPortName("metrics")}, "10.96.0.20:9090"},
		{"by numeric target port", []ServiceOption{WithPortNumber(8080)}, "10.96.0.20:80"},
		{"by named target port, resolved by the EndpointSlices", []ServiceOption{WithPortNumber(9100)}, "10.96.0.20:9090"},
		{"unset target port is the port", []ServiceOption{WithPortNumber(7000)}, "10.96.0.20:7000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tg, err := NewClusterIPTargets(ctx, cs, ns, "web", tc.opts...)
			require.NoError(t, err)
			eps, err := tg.Endpoints(ctx)
			require.NoError(t, err)
			require.Equal(t, []string{tc.want}, eps, "one address: the Service's ClusterIP and port, never a pod IP")
			require.Equal(t, tc.want, tg.Address())
		})
	}

	_, err := NewClusterIPTargets(ctx, cs, ns, "web", WithPortNumber(1234))
	require.ErrorContains(t, err, "no port that targets pod port 1234")
	_, err = NewClusterIPTargets(ctx, cs, ns, "web", WithPortName("grpc"))
	require.ErrorContains(t, err, `no port named "grpc"`)
	_, err = NewClusterIPTargets(ctx, cs, ns, "headless")
	require.ErrorContains(t, err, "has no ClusterIP")
	_, err = NewClusterIPTargets(ctx, cs, ns, "missing")
	require.ErrorContains(t, err, "not found")
}
