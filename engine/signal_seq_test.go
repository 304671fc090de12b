package engine

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

// seqExprs are the default expressions for a revision: cumulative
// counters.
func seqExprs(hash string) (errs, total string) {
	return fmt.Sprintf(`sum(http_requests_total{code=~"5..",pod_template_hash=%q})`, hash),
		fmt.Sprintf(`sum(http_requests_total{pod_template_hash=%q})`, hash)
}

func startWatch(t *testing.T, w *Watch) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(func() { cancel(); w.Shutdown() })
	require.NoError(t, w.Start(ctx))
}

func TestSequentialSignalNewRevisionAgainstPrevious(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name      string
		newErrors float64
		degraded  bool
	}{
		{name: "degraded", newErrors: 300, degraded: true},
		{name: "healthy", newErrors: 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			prevE, prevT := seqExprs("hv2")
			newE, newT := seqExprs("hv3")
			// The new revision has served nothing yet: its series are absent.
			prom := newFakeProm(t, map[string]float64{prevE: 3, prevT: 3000})
			w := NewWatch(fake.NewClientset(history()...), testNS, testDep)
			startWatch(t, w)
			s, err := NewSequentialSignal(prom.api(t), w, drills.Statistical{})
			require.NoError(t, err)
			obs := s.Observe(ctx, time.Now())
			require.Empty(t, obs.Hold)
			require.Empty(t, obs.Evidence, "the baseline reading decides nothing")
			prom.set(newE, tc.newErrors)
			prom.set(newT, 3000)
			obs = s.Observe(ctx, time.Now())
			require.Empty(t, obs.Hold)
			if !tc.degraded {
				require.Empty(t, obs.Evidence)
				return
			}
			require.Len(t, obs.Evidence, 1)
			require.Equal(t, EvidenceSequential, obs.Evidence[0].Kind)
			require.Contains(t, obs.Evidence[0].Source, "hv3")
			require.Equal(t, drills.SeverityCritical, obs.Evidence[0].Severity)
		})
	}
}

func TestSequentialSignalHoldsWithoutData(t *testing.T) {
	prom := newFakeProm(t, map[string]float64{})
	w := NewWatch(fake.NewClientset(history()...), testNS, testDep)
	startWatch(t, w)
	s, err := NewSequentialSignal(prom.api(t), w, drills.Statistical{})
	require.NoError(t, err)
	obs := s.Observe(context.Background(), time.Now())
	require.Empty(t, obs.Evidence, "no requests: no verdict")
}

func TestWorkloadTrackerRestartsUnderUnchangedRevision(t *testing.T) {
	start := time.Now()
	pod := waitingPod("payment-hv3-a", "hv3", "")
	snap := &Snapshot{Revision: 3, Replicas: 4, ReadyReplicas: 2, Pods: []*corev1.Pod{pod}}
	var w workloadTracker
	w.observe(time.Now(), snap)
	w.begin(start, snap)

	pod2 := pod.DeepCopy()
	pod2.Status.ContainerStatuses[0].RestartCount = 5 // +2
	fresh := waitingPod("payment-hv3-b", "hv3", "")
	fresh.CreationTimestamp = metav1.NewTime(start.Add(time.Second)) // a replacement
	fresh.Status.ContainerStatuses[0].RestartCount = 0
	ws := w.observe(time.Now(), &Snapshot{Revision: 3, Replicas: 4, ReadyReplicas: 4, Pods: []*corev1.Pod{pod2, fresh}})
	require.Equal(t, 3, ws.Restarts)
	require.False(t, ws.RolloutInProgress)
	require.Equal(t, int64(3), ws.RevisionAtStart)
	require.Equal(t, int32(2), ws.ReadyBefore)
	require.Equal(t, int32(4), ws.ReadyNow)
	r, why := ws.RecoveryPotential()
	require.Equal(t, 2.5, r, why)
}
