package scenarios

import (
	"context"
	"fmt"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TrafficEvidence is what the drill's own traffic measured, per pod IP: the
// evidence that proves a fault by its effect on requests. The runner
// implements it over its traffic generator; it is nil in Deps when the
// drill sends no traffic.
type TrafficEvidence interface {
	// Endpoint counts the requests sent to ip that were scheduled in
	// [from, to), in whole seconds: the second in which from falls is
	// left out, so that nothing scheduled before from counts. A zero to
	// means up to now.
	Endpoint(ip string, from, to time.Time) EndpointCounts
}

// EndpointCounts are the requests the drill's traffic sent to one pod IP.
type EndpointCounts struct {
	// Sent went on the wire; Pending of them have not finished yet.
	Sent, Pending int64
	// Succeeded are finished requests that are not errors.
	Succeeded int64
	// Failed got an HTTP response that counts as an error (5xx).
	Failed int64
	// TimedOut did not finish within the timeout.
	TimedOut int64
	// Transport failed on the connection (refused, reset).
	Transport int64
	// FirstSuccess, LastSuccess, FirstFailure and LastFailure are the
	// intended send times of the first and last successful and failed
	// (also timed-out or transport-failed) requests; zero if none.
	FirstSuccess, LastSuccess, FirstFailure, LastFailure time.Time
}

// Errors are the finished requests that failed, timed out or failed on the
// connection.
func (c EndpointCounts) Errors() int64 { return c.Failed + c.TimedOut + c.Transport }

// Finished are the requests that got an outcome.
func (c EndpointCounts) Finished() int64 { return c.Succeeded + c.Errors() }

// String is a one-line summary, e.g. "12 requests: 3 ok, 9 failed (5xx 0,
// timeout 9, transport 0)".
func (c EndpointCounts) String() string {
	s := fmt.Sprintf("%d requests: %d ok, %d failed (5xx %d, timeout %d, transport %d)",
		c.Finished(), c.Succeeded, c.Errors(), c.Failed, c.TimedOut, c.Transport)
	if c.Pending > 0 {
		s += fmt.Sprintf(", %d in flight", c.Pending)
	}
	return s
}

// Invariants are the drill's data-consistency checks, run on demand: the
// evidence that proves a data corruption by its effect. The runner
// implements it; it is nil in Deps when the drill has no such check.
type Invariants interface {
	// Violated runs every check and returns one line per check that does
	// not hold ("name: what was observed"); none means all hold.
	Violated(ctx context.Context) ([]string, error)
}

// ReadyEndpointIPs are the addresses of the ready endpoints of service in
// namespace, as its EndpointSlices publish them.
func ReadyEndpointIPs(ctx context.Context, cs kubernetes.Interface, namespace, service string) (map[string]bool, error) {
	list, err := cs.DiscoveryV1().EndpointSlices(namespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + service})
	if err != nil {
		return nil, fmt.Errorf("endpointslices of service %s/%s: %w", namespace, service, err)
	}
	out := map[string]bool{}
	for _, s := range list.Items {
		if s.Labels[discoveryv1.LabelServiceName] != service {
			continue // fake clients do not filter by label
		}
		for _, ep := range s.Endpoints {
			if ep.Conditions.Ready == nil || !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				out[a] = true
			}
		}
	}
	return out, nil
}
