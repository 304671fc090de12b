package scenarios

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/types"
)

// TestUnattributedTraffic checks that traffic which cannot be attributed
// to pods (through a Service's ClusterIP) never proves a per-pod effect and
// says why, instead of reading as a drill without traffic.
func TestUnattributedTraffic(t *testing.T) {
	ev := UnattributedTraffic("sent to Service payment's ClusterIP")
	require.Equal(t, "sent to Service payment's ClusterIP", TrafficUnattributed(ev))
	require.Nil(t, perPod(ev))
	require.Equal(t, EndpointCounts{}, ev.Endpoint("10.244.0.5", time.Time{}, time.Time{}))
	require.Empty(t, TrafficUnattributed(nil))
	require.Empty(t, TrafficUnattributed(&fakeTraffic{}))

	ok, msg := PartitionEffect(ev, "payment-1", "10.244.0.5", time.Now())
	require.False(t, ok)
	require.Contains(t, msg, "per-pod requests are unavailable (sent to Service payment's ClusterIP)")
	require.Contains(t, msg, "cannot be proven")

	r := newRevisionProof(time.Now())
	r.order = []types.UID{"u1"}
	r.pods["u1"] = &revPod{name: "payment-v2-1", rs: "payment-v2", ip: "10.244.0.9", ready: true}
	st := r.status(Deps{Traffic: ev}, "bad image")
	require.True(t, st.Effective)
	require.Contains(t, st.Message, "became ready and so took the Service's traffic (per-pod requests unavailable: sent to Service payment's ClusterIP)")
	require.NotContains(t, st.Message, "answered")
}
