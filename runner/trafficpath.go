package runner

import (
	"context"
	"fmt"

	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner/traffic"
	"github.com/firedrill/firedrill/scenarios"
)

// trafficVia is the path the drill's traffic takes: spec.traffic.via, with
// endpoints for a drill that was not defaulted; "" without traffic.
func trafficVia(d *drills.Drill) drills.TrafficVia {
	switch {
	case d.Spec.Traffic == nil:
		return ""
	case d.Spec.Traffic.Via == "":
		return drills.TrafficViaEndpoints
	}
	return d.Spec.Traffic.Via
}

// chooseTrafficPath sets what the generator sends to and records the path
// in the result: the ready endpoints' pod IPs (run.targets, already
// watching), or the Service's ClusterIP and port, the address a client in
// the cluster uses, so that kube-proxy's rules and their lag behind the
// EndpointSlices are part of what the drill measures.
func (run *Run) chooseTrafficPath(ctx context.Context, cs kubernetes.Interface, opts []TrafficOption) error {
	t := run.drill.Spec.Target
	via := trafficVia(run.drill)
	var tg traffic.Targets = run.targets
	target := "Service " + t.Service + "'s ready endpoints"
	if via == drills.TrafficViaService {
		ct, err := traffic.NewClusterIPTargets(ctx, cs, t.Namespace, t.Service, opts...)
		if err != nil {
			return fmt.Errorf("spec.traffic.via service: %w", err)
		}
		tg, target = ct, ct.Address()
	}
	run.trafTargets = tg
	run.mu.Lock()
	run.res.TrafficVia, run.res.TrafficTarget = via, target
	run.mu.Unlock()
	return nil
}

// trafficPath returns the path the traffic takes and where it goes.
func (run *Run) trafficPath() (drills.TrafficVia, string) {
	run.mu.Lock()
	defer run.mu.Unlock()
	return run.res.TrafficVia, run.res.TrafficTarget
}

// trafficEvidence is what the faults' proofs get from the drill's traffic:
// per pod IP with via endpoints; with via service nothing per pod (the
// client cannot tell which pod kube-proxy chose), so the proofs that need
// it say so rather than pass or fail on counts that were never measured.
func (run *Run) trafficEvidence() scenarios.TrafficEvidence {
	if trafficVia(run.drill) == drills.TrafficViaService {
		return scenarios.UnattributedTraffic(fmt.Sprintf("spec.traffic.via is service: the requests go to Service %s's ClusterIP and kube-proxy picks the pod", run.drill.Spec.Target.Service))
	}
	return trafficEvidence{run: run}
}
