package runner

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner/traffic"
	"github.com/firedrill/firedrill/scenarios"
)

// TestTrafficPathChoice checks where the generator's requests go for each
// spec.traffic.via, what the result records, and what the faults' proofs
// get as per-pod evidence.
func TestTrafficPathChoice(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cs := fake.NewClientset(&corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "payment", Namespace: "demo"},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.7.7", Ports: []corev1.ServicePort{
			{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
		}},
	})
	for _, tc := range []struct {
		name       string
		via        drills.TrafficVia
		wantVia    drills.TrafficVia
		wantTarget string
		wantEps    []string // nil: the Service's watched endpoints
	}{
		{"not defaulted is endpoints", "", drills.TrafficViaEndpoints, "Service payment's ready endpoints", nil},
		{"endpoints", drills.TrafficViaEndpoints, drills.TrafficViaEndpoints, "Service payment's ready endpoints", nil},
		{"service", drills.TrafficViaService, drills.TrafficViaService, "10.96.7.7:80", []string{"10.96.7.7:80"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := &drills.Drill{Spec: drills.Spec{
				Target:  drills.Target{Namespace: "demo", Name: "payment", Service: "payment", Port: 8080},
				Traffic: &drills.Traffic{Via: tc.via, Requests: []drills.RequestTemplate{{Path: "/"}}},
			}}
			run := &Run{drill: d, res: &drills.Result{}}
			watched, err := traffic.NewServiceTargets(ctx, cs, "demo", "payment")
			require.NoError(t, err)
			defer watched.Close()
			run.targets = watched
			require.NoError(t, run.chooseTrafficPath(ctx, cs, []TrafficOption{traffic.WithPortNumber(8080)}))
			require.Equal(t, tc.wantVia, run.res.TrafficVia)
			require.Equal(t, tc.wantTarget, run.res.TrafficTarget)
			if tc.wantEps == nil {
				require.Same(t, watched, run.trafTargets.(*traffic.ServiceTargets))
				_, ok := run.trafficEvidence().(trafficEvidence)
				require.True(t, ok, "per-pod evidence from the generator")
				require.Empty(t, scenarios.TrafficUnattributed(run.trafficEvidence()))
				return
			}
			eps, err := run.trafTargets.Endpoints(ctx)
			require.NoError(t, err)
			require.Equal(t, tc.wantEps, eps)
			require.Contains(t, scenarios.TrafficUnattributed(run.trafficEvidence()), "ClusterIP", "the proofs are told per-pod evidence is unavailable")
		})
	}

	// No traffic: no path.
	require.Empty(t, trafficVia(&drills.Drill{}))
	// A headless Service cannot be reached through a ClusterIP.
	_, err := cs.CoreV1().Services("demo").Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "headless", Namespace: "demo"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	d := &drills.Drill{Spec: drills.Spec{
		Target:  drills.Target{Namespace: "demo", Name: "headless", Service: "headless"},
		Traffic: &drills.Traffic{Via: drills.TrafficViaService},
	}}
	run := &Run{drill: d, res: &drills.Result{}}
	require.ErrorContains(t, run.chooseTrafficPath(ctx, cs, nil), "spec.traffic.via service")
}
