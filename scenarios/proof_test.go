package scenarios

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

// partitionFixture is one pod with IP 10.0.0.9 under a partition whose
// rules are in place.
func partitionFixture(t *testing.T, ev TrafficEvidence) Fault {
	t.Helper()
	cs := fixture(t, 1)
	deps := testDeps(cs)
	deps.Traffic = ev
	deps.Exec = &fakeRunner{reply: func(c string) (string, error) {
		if strings.HasSuffix(c, "iptables -w -S") {
			return "-N FIREDRILL-FAULT\n-A OUTPUT ! -o lo -j FIREDRILL-FAULT\n-A FIREDRILL-FAULT -m comment --comment x -j DROP\n", nil
		}
		return "", nil
	}}
	deps.Netns = fakeNetns{}
	f := build(t, deps, drills.Fault{Type: drills.FaultNetworkPartition})
	_, err := f.Inject(context.Background())
	require.NoError(t, err)
	return f
}

func TestPartitionProvenByTraffic(t *testing.T) {
	for _, tc := range []struct {
		name      string
		counts    *EndpointCounts // nil: no traffic evidence at all
		effective bool
		message   string
	}{
		{"no traffic in the drill", nil, false, "the drill sends no traffic: the partition of pod payment-0 cannot be proven"},
		{"no request reached the pod", &EndpointCounts{}, false, "no traffic reached pod payment-0 (10.0.0.9) since the fault"},
		{"the pod still answers", &EndpointCounts{Sent: 10, Succeeded: 1, TimedOut: 9}, false, "still answered"},
		{"too few failures yet", &EndpointCounts{Sent: 2, TimedOut: 2}, false, "2 of the 3 failed requests needed"},
		{"requests fail", &EndpointCounts{Sent: 7, TimedOut: 5, Transport: 1, Pending: 1}, true,
			"traffic to pod payment-0 (10.0.0.9) since the fault: 6 requests: 0 ok, 6 failed (5xx 0, timeout 5, transport 1), 1 in flight, none succeeded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ev TrafficEvidence
			tr := &fakeTraffic{}
			if tc.counts != nil {
				tr.set("10.0.0.9", *tc.counts)
				ev = tr
			}
			f := partitionFixture(t, ev)
			st, err := f.Status(context.Background())
			require.NoError(t, err)
			require.Equal(t, tc.effective, st.Effective, st.Message)
			require.Contains(t, st.Message, tc.message)
			if tc.counts != nil {
				require.Equal(t, fixedT0, tr.from, "counted since the rules went in")
				require.True(t, tr.to.IsZero())
			}
		})
	}
}

func TestPartitionProofIsSticky(t *testing.T) {
	tr := &fakeTraffic{}
	tr.set("10.0.0.9", EndpointCounts{Sent: 3, TimedOut: 3})
	f := partitionFixture(t, tr)
	st, err := f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective, st.Message)
	// Later successes (the fault was removed, the pod recovered) do not
	// take the proof back.
	tr.set("10.0.0.9", EndpointCounts{Sent: 10, TimedOut: 3, Succeeded: 7})
	st, err = f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective, st.Message)
}

func TestLossProvenByChainCounters(t *testing.T) {
	counters := func(seen, dropped int) string {
		return "Chain INPUT (policy ACCEPT 0 packets, 0 bytes)\n" +
			"    pkts      bytes target     prot opt in     out     source               destination\n" +
			"Chain OUTPUT (policy ACCEPT 0 packets, 0 bytes)\n" +
			"    pkts      bytes target     prot opt in     out     source               destination\n" +
			"     " + strconv.Itoa(seen) + "    9000 FIREDRILL-FAULT  all  --  *      !lo     0.0.0.0/0            0.0.0.0/0\n" +
			"\nChain FIREDRILL-FAULT (1 references)\n" +
			"    pkts      bytes target     prot opt in     out     source               destination\n" +
			"     " + strconv.Itoa(dropped) + "     300 DROP       all  --  *      *       0.0.0.0/0            0.0.0.0/0            /* x */ statistic mode random probability 0.30000000000\n"
	}
	for _, tc := range []struct {
		name          string
		seen, dropped int
		effective     bool
		message       string
	}{
		{"too few packets", 20, 6, false, "only 20 packets crossed the fault chain, 50 needed"},
		{"within tolerance", 200, 50, true, "dropped 50 of 200 packets (25.0%, configured 30.0% ± 10.0 points)"},
		{"nothing dropped", 200, 0, false, "dropped 0 of 200 packets"},
		{"tolerance widens to 3σ for few packets", 60, 13, true, "± 17.7 points"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fixture(t, 1)
			deps := testDeps(cs)
			tr := &fakeTraffic{}
			tr.set("10.0.0.9", EndpointCounts{Sent: 40, Succeeded: 35, TimedOut: 5})
			deps.Traffic = tr
			deps.Exec = &fakeRunner{reply: func(c string) (string, error) {
				switch {
				case strings.HasSuffix(c, "iptables -w -S"):
					return "-A OUTPUT ! -o lo -j FIREDRILL-FAULT\n-A FIREDRILL-FAULT -m statistic --mode random --probability 0.3 -j DROP\n", nil
				case strings.HasSuffix(c, "iptables -w -n -v -x -L"):
					return counters(tc.seen, tc.dropped), nil
				}
				return "", nil
			}}
			deps.Netns = fakeNetns{}
			f := build(t, deps, drills.Fault{Type: drills.FaultNetworkLoss, Network: &drills.NetworkSettings{LossPercent: 30}})
			_, err := f.Inject(context.Background())
			require.NoError(t, err)
			st, err := f.Status(context.Background())
			require.NoError(t, err)
			require.Equal(t, tc.effective, st.Effective, st.Message)
			require.Contains(t, st.Message, tc.message)
			require.Contains(t, st.Message, "requests since the fault: 40 requests: 35 ok, 5 failed")
		})
	}
}

func TestBandwidthProvenByQdiscCounters(t *testing.T) {
	for _, tc := range []struct {
		name      string
		stats     string
		effective bool
		message   string
	}{
		{"held back", " Sent 120000 bytes 80 pkt (dropped 0, overlimits 12 requeues 0)", true, "sent 80 packets, dropped 0, overlimits 12"},
		{"idle", " Sent 500 bytes 5 pkt (dropped 0, overlimits 0 requeues 0)", false, "sent 5 packets, dropped 0, overlimits 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fixture(t, 1)
			deps := testDeps(cs)
			qdisc := "qdisc tbf fd: root refcnt 2 rate 1Mbit burst 10000b lat 160.0ms\n"
			deps.Exec = &fakeRunner{reply: func(c string) (string, error) {
				switch {
				case strings.HasSuffix(c, "ip -o -4 addr show"):
					return "2: eth0    inet 10.0.0.9/24 brd 10.0.0.255 scope global eth0\n", nil
				case strings.HasSuffix(c, "tc qdisc show dev eth0"):
					return qdisc, nil
				case strings.HasSuffix(c, "tc -s qdisc show dev eth0"):
					return qdisc + tc.stats + "\n backlog 0b 0p requeues 0\n", nil
				}
				return "", nil
			}}
			deps.Netns = fakeNetns{}
			f := build(t, deps, drills.Fault{Type: drills.FaultBandwidth, Network: &drills.NetworkSettings{Rate: "1mbit"}})
			_, err := f.Inject(context.Background())
			require.NoError(t, err)
			st, err := f.Status(context.Background())
			require.NoError(t, err)
			require.Equal(t, tc.effective, st.Effective, st.Message)
			require.Contains(t, st.Message, "tc -s qdisc: the tbf qdisc on eth0 "+tc.message)
		})
	}
}

// endpointSlice publishes the ready addresses of the payment Service.
func endpointSlice(ready ...string) *discoveryv1.EndpointSlice {
	yes := true
	s := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "payment-abc", Namespace: ns,
		Labels: map[string]string{discoveryv1.LabelServiceName: "payment"}}}
	for _, ip := range ready {
		s.Endpoints = append(s.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: &yes}})
	}
	return s
}

func TestPodKillProvenOutOfEndpoints(t *testing.T) {
	cs := fixture(t, 1)
	setPodIP(t, cs, "payment-0", "10.0.1.1")
	_, err := cs.DiscoveryV1().EndpointSlices(ns).Create(context.Background(), endpointSlice("10.0.1.1"), metav1.CreateOptions{})
	require.NoError(t, err)
	deps := testDeps(cs)
	tr := &fakeTraffic{}
	tr.set("10.0.1.1", EndpointCounts{Sent: 4, Transport: 4})
	deps.Traffic = tr
	tgt := target
	tgt.Service = "payment"
	f, err := NewNativeRegistry(deps).Build(context.Background(), drills.Fault{Type: drills.FaultPodKill}, tgt)
	require.NoError(t, err)
	_, err = f.Inject(context.Background())
	require.NoError(t, err)

	st, err := f.Status(context.Background())
	require.NoError(t, err)
	require.False(t, st.Effective, "gone but still a ready endpoint: %s", st.Message)
	require.Contains(t, st.Message, "1 of 1 killed pods gone; 0 of 1 out of the ready endpoints of Service payment")

	_, err = cs.DiscoveryV1().EndpointSlices(ns).Update(context.Background(), endpointSlice(), metav1.UpdateOptions{})
	require.NoError(t, err)
	st, err = f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective, "out of the endpoints, not replaced yet: %s", st.Message)
	require.Contains(t, st.Message, "1 of 1 out of the ready endpoints")
	require.Contains(t, strings.Join(st.Evidence, "; "), "traffic to payment-0 (10.0.1.1) since the kill: 4 requests: 0 ok, 4 failed")
}

// badImageFault injects bad-image payment:v2-buggy with ev as traffic.
func badImageFault(t *testing.T, cs *fake.Clientset, ev TrafficEvidence) Fault {
	t.Helper()
	deps := testDeps(cs)
	deps.Traffic = ev
	f := build(t, deps, drills.Fault{Type: drills.FaultBadImage, BadImage: &drills.BadImageSettings{Image: "payment:v2-buggy"}})
	_, err := f.Inject(context.Background())
	require.NoError(t, err)
	return f
}

func TestBadImageProvenByAnsweredRequests(t *testing.T) {
	cs := fixture(t, 0)
	tr := &fakeTraffic{}
	f := badImageFault(t, cs, tr)
	addReplicaSet(t, cs, "bad", 2)
	setPodIP(t, cs, "payment-bad-a", "10.0.2.1")
	setPodIP(t, cs, "payment-bad-b", "10.0.2.2")

	st, err := f.Status(context.Background())
	require.NoError(t, err)
	require.False(t, st.Effective, "ready but no request answered yet: %s", st.Message)
	require.Contains(t, st.Message, "2 pods created, none answered a request")

	tr.set("10.0.2.1", EndpointCounts{Sent: 12, Succeeded: 2, Failed: 10})
	st, err = f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective, st.Message)
	require.Contains(t, st.Message, "the revision running payment:v2-buggy: 1 of 2 pods answered the drill's requests (12 requests: 2 ok, 10 failed")
	require.Contains(t, st.Message, "pod payment-bad-a of ReplicaSet payment-bad (10.0.2.1): answered 12 requests: 2 ok, 10 failed (5xx 10, timeout 0, transport 0); became ready")
	require.Contains(t, st.Message, "pod payment-bad-b of ReplicaSet payment-bad (10.0.2.2): answered 0 requests")
	require.Equal(t, fixedT0, tr.from, "counted since the push")

	// The guard reverts: the bad pods go. What they did is kept, and
	// their traffic is counted only up to when they were seen gone.
	for _, p := range []string{"payment-bad-a", "payment-bad-b"} {
		require.NoError(t, cs.CoreV1().Pods(ns).Delete(context.Background(), p, metav1.DeleteOptions{}))
	}
	st, err = f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective, st.Message)
	require.Contains(t, st.Message, "answered 12 requests")
	require.Contains(t, st.Message, "gone since 2026-01-02T03:04:05Z")
	require.Equal(t, fixedT0, tr.to)
}

func TestBadImageProvenByNamedReason(t *testing.T) {
	for _, tc := range []struct {
		name   string
		status corev1.PodStatus
		event  *corev1.Event
		want   string
	}{
		{"image pull", corev1.PodStatus{Phase: corev1.PodPending, ContainerStatuses: []corev1.ContainerStatus{{Name: "payment",
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "ImagePullBackOff", Message: `Back-off pulling image "payment:v2-buggy"`}}}}},
			nil, `never ready: container payment ImagePullBackOff (Back-off pulling image "payment:v2-buggy")`},
		{"crash loop", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "payment", RestartCount: 3,
			State: corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}}}},
			nil, "never ready: container payment CrashLoopBackOff"},
		{"readiness probe", corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "payment",
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}}},
			&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "e1", Namespace: ns}, Reason: "Unhealthy",
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "payment-bad-a", UID: "uid-payment-bad-a"},
				Message:        "Readiness probe failed: HTTP probe failed with statuscode: 500"},
			"never ready: Readiness probe failed: HTTP probe failed with statuscode: 500"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cs := fixture(t, 0)
			f := badImageFault(t, cs, &fakeTraffic{})
			addReplicaSet(t, cs, "bad", 1)
			p, err := cs.CoreV1().Pods(ns).Get(context.Background(), "payment-bad-a", metav1.GetOptions{})
			require.NoError(t, err)
			p.Status = corev1.PodStatus{Phase: corev1.PodPending}
			_, err = cs.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
			require.NoError(t, err)

			st, err := f.Status(context.Background())
			require.NoError(t, err)
			require.False(t, st.Effective, "a created pod proves nothing: %s", st.Message)
			require.Contains(t, st.Message, "1 pods created, none answered a request nor failed with a named reason yet")

			p.Status = tc.status
			_, err = cs.CoreV1().Pods(ns).UpdateStatus(context.Background(), p, metav1.UpdateOptions{})
			require.NoError(t, err)
			if tc.event != nil {
				_, err = cs.CoreV1().Events(ns).Create(context.Background(), tc.event, metav1.CreateOptions{})
				require.NoError(t, err)
			}
			st, err = f.Status(context.Background())
			require.NoError(t, err)
			require.True(t, st.Effective, st.Message)
			require.Contains(t, st.Message, "1 of 1 pods never became ready with a named reason")
			require.Contains(t, st.Message, tc.want)

			// Reverted before it ever ran: the proof stays.
			require.NoError(t, cs.CoreV1().Pods(ns).Delete(context.Background(), "payment-bad-a", metav1.DeleteOptions{}))
			st, err = f.Status(context.Background())
			require.NoError(t, err)
			require.True(t, st.Effective, st.Message)
			require.Contains(t, st.Message, tc.want)
		})
	}
}

// fakeInvariants answers Violated from a script.
type fakeInvariants struct {
	violated []string
	err      error
	calls    int
}

func (f *fakeInvariants) Violated(context.Context) ([]string, error) {
	f.calls++
	return f.violated, f.err
}

func TestDataCorruptionProof(t *testing.T) {
	spec := drills.Fault{Type: drills.FaultDataCorruption, DataCorruption: &drills.DataCorruptionSettings{DSN: "postgres://x", SQL: "UPDATE t SET v = 0"}}
	injected := func(inv Invariants, rows int64) *dataCorruption {
		deps := Deps{Invariants: inv}.withDefaults()
		f, err := newDataCorruption(context.Background(), spec, target, deps)
		require.NoError(t, err)
		d := f.(*dataCorruption)
		d.injected, d.rows = true, rows
		return d
	}

	inv := &fakeInvariants{}
	f := injected(inv, 3)
	st, err := f.Status(context.Background())
	require.NoError(t, err)
	require.False(t, st.Effective, "invariants hold: the rows changed prove nothing: %s", st.Message)
	require.Equal(t, "the drill's consistency checks still hold", st.Message)

	inv.violated = []string{"ledger-balanced: got false, want true"}
	st, err = f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective)
	require.Equal(t, "the drill's invariants turned false after the injection: ledger-balanced: got false, want true", st.Message)

	// The guard repaired the data: the proof stays, the checks are not
	// asked again.
	inv.violated = nil
	st, err = f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective)
	require.Equal(t, 2, inv.calls)

	_, err = injected(&fakeInvariants{err: errors.New("connection refused")}, 3).Status(context.Background())
	require.ErrorContains(t, err, "invariants: connection refused")

	st, err = injected(nil, 3).Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective)
	require.Equal(t, "the statement changed 3 rows (the drill has no consistency check nor undoIf to re-read them)", st.Message)
	st, err = injected(nil, 0).Status(context.Background())
	require.NoError(t, err)
	require.False(t, st.Effective)
}
