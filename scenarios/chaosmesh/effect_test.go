package chaosmesh

import (
	"context"
	"testing"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sfake "k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/scenarios"
)

func readySlice(ips ...string) *discoveryv1.EndpointSlice {
	yes := true
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "payment-x", Namespace: ns,
		Labels: map[string]string{discoveryv1.LabelServiceName: "payment"}}}
	for _, ip := range ips {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &yes}})
	}
	return s
}

// TestPodFailureNeedsThePodOutOfTheEndpoints: a failed pod that is not
// Ready proves the fault only once the Service stops sending it traffic,
// and that sighting stays.
func TestPodFailureNeedsThePodOutOfTheEndpoints(t *testing.T) {
	ctx := context.Background()
	p := pod("payment-a", "uid-1")
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
	cs := k8sfake.NewClientset(p, readySlice("10.244.0.1", "10.244.0.2"))
	tgt := target
	tgt.Service = "payment"
	f := &fault{target: tgt, sel: Selection{Namespace: ns}, deps: testDeps(cs), before: map[string]corev1.Pod{"payment-a": *pod("payment-a", "uid-1")}}
	st := &v1alpha1.ChaosStatus{}
	st.Experiment.Records = []*v1alpha1.Record{{Id: ns + "/payment-a", Phase: v1alpha1.Injected, InjectedCount: 1}}

	var out scenarios.Status
	ok, msg, err := f.podFailureEffect(ctx, st, &out)
	require.NoError(t, err)
	require.False(t, ok, msg)
	require.Equal(t, "1 of 1 failed pods not Ready; 0 of 1 out of the ready endpoints of Service payment", msg)

	_, err = cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, readySlice("10.244.0.2"), metav1.UpdateOptions{})
	require.NoError(t, err)
	ok, msg, err = f.podFailureEffect(ctx, st, &out)
	require.NoError(t, err)
	require.True(t, ok, msg)
	require.Contains(t, out.Evidence, "pod payment-a (10.244.0.1) seen out of the ready endpoints of Service payment: true")

	// Back in the endpoints later: the sighting stays.
	_, err = cs.DiscoveryV1().EndpointSlices(ns).Update(ctx, readySlice("10.244.0.1", "10.244.0.2"), metav1.UpdateOptions{})
	require.NoError(t, err)
	ok, _, err = f.podFailureEffect(ctx, st, &out)
	require.NoError(t, err)
	require.True(t, ok)
}

// TestContainerKillNeedsThePodOutOfTheEndpoints: a restarted container
// proves the kill with a Service only if its pod was seen out of the
// ready endpoints.
func TestContainerKillNeedsThePodOutOfTheEndpoints(t *testing.T) {
	ctx := context.Background()
	p := pod("payment-a", "uid-1")
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "payment", RestartCount: 1}}
	cs := k8sfake.NewClientset(p, readySlice("10.244.0.1"))
	st := &v1alpha1.ChaosStatus{}
	st.Experiment.Records = []*v1alpha1.Record{{Id: ns + "/payment-a/payment", Phase: v1alpha1.Injected, InjectedCount: 1}}
	for _, tc := range []struct {
		name    string
		service string
		ok      bool
		msg     string
	}{
		{"no service", "", true, "1 of 1 killed containers restarted"},
		{"never left the endpoints", "payment", false, "1 of 1 killed containers restarted; 0 of 1 pods seen out of the ready endpoints of Service payment"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tgt := target
			tgt.Service = tc.service
			f := &fault{target: tgt, sel: Selection{Namespace: ns}, deps: testDeps(cs), before: map[string]corev1.Pod{"payment-a": *pod("payment-a", "uid-1")}}
			var out scenarios.Status
			ok, msg, err := f.containerKillEffect(ctx, st, &out)
			require.NoError(t, err)
			require.Equal(t, tc.ok, ok, msg)
			require.Equal(t, tc.msg, msg)
		})
	}
}

// countsByIP is scenarios.TrafficEvidence from a table.
type countsByIP map[string]scenarios.EndpointCounts

func (c countsByIP) Endpoint(ip string, _, _ time.Time) scenarios.EndpointCounts { return c[ip] }

// TestNetworkChaosPartitionProvenByTraffic: a partition that Chaos Mesh
// reports injected is proven only by the drill's requests failing.
func TestNetworkChaosPartitionProvenByTraffic(t *testing.T) {
	st := &v1alpha1.ChaosStatus{}
	st.Experiment.Records = []*v1alpha1.Record{{Id: ns + "/payment-a", Phase: v1alpha1.Injected, InjectedCount: 1}}
	for _, tc := range []struct {
		name string
		ev   scenarios.TrafficEvidence
		ok   bool
		msg  string
	}{
		{"no traffic", nil, false, "the drill sends no traffic"},
		{"none reached the pod", countsByIP{}, false, "no traffic reached pod payment-a (10.244.0.1) since the fault"},
		{"requests fail", countsByIP{"10.244.0.1": {Sent: 4, TimedOut: 4}}, true, "partition measured on 1 of 1 pods"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			deps := testDeps(k8sfake.NewClientset())
			deps.Traffic = tc.ev
			f := &fault{target: target, sel: Selection{Namespace: ns}, deps: deps, before: map[string]corev1.Pod{"payment-a": *pod("payment-a", "uid-1")}}
			var out scenarios.Status
			ok, msg := f.partitionEffect(st, &out)
			require.Equal(t, tc.ok, ok, msg)
			require.Contains(t, msg, tc.msg)
		})
	}
}
