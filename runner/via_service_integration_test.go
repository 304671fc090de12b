package runner_test

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
)

// TestRunPodKillViaService runs the shipped pod-kill drill with its traffic
// sent to the payment Service's ClusterIP (spec.traffic.via: service): what
// a client sees, kube-proxy's rules and their lag behind the EndpointSlices
// included. The drill passes, the result records the path and the ClusterIP
// it used, and the pod-kill proof says that per-pod requests were not
// measured instead of counting any.
func TestRunPodKillViaService(t *testing.T) {
	_, cs := stackClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	svc, err := cs.CoreV1().Services(stack.Namespace).Get(ctx, stack.Service, metav1.GetOptions{})
	require.NoError(t, err)

	d := loadExample(t, "pod-kill.yaml")
	d.Spec.Traffic.Via = drills.TrafficViaService
	res, err := runner.New(cs, runner.WithLogger(stacktest.Logger())).Run(context.Background(), d)
	require.NoError(t, err)
	logResult(t, res)
	require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
	require.Equal(t, drills.TrafficViaService, res.TrafficVia)
	host, _, err := net.SplitHostPort(res.TrafficTarget)
	require.NoError(t, err, "the target is the ClusterIP:port: %q", res.TrafficTarget)
	require.Equal(t, svc.Spec.ClusterIP, host)
	require.Positive(t, kinds(res)[drills.EventProof], "the fault was proven")
	var proof string
	for _, c := range proofChecks(res) {
		proof += c.Observed + " " + c.Message + "\n"
	}
	require.Contains(t, proof, "per-pod requests unavailable")
	require.False(t, strings.Contains(proof, "since the kill: 0 requests"), "no per-pod count is claimed: %s", proof)
	requireRestored(t, cs)
}
