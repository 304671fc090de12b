package scenarios

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/firedrill/firedrill/drills"
)

// Thresholds of the network proofs.
const (
	// PartitionMinFailures is how many requests to a partitioned pod must
	// fail or time out, with none succeeding, to prove the partition.
	PartitionMinFailures = 3
	// LossMinPackets is how many packets must have crossed a pod's fault
	// chain before its measured loss is compared with the configured one.
	LossMinPackets = 50
	// LossTolerance is the least tolerance, in ratio points, of the
	// measured loss around the configured one; the tolerance is
	// max(LossTolerance, 3σ) with σ = √(p(1-p)/n) for n packets.
	LossTolerance = 0.10
)

// effect measures the effect of the fault on one pod, whose network
// namespace is pid's (0 when the pod is gone): whether it is proven and
// what was measured.
func (f *netFault) effect(ctx context.Context, pid int, pn *podNet) (bool, string, error) {
	switch f.spec.Type {
	case drills.FaultNetworkPartition:
		ok, why := f.partitionEffect(pn)
		return ok, why, nil
	case drills.FaultNetworkLoss:
		if pid == 0 {
			return false, "pod is gone before its loss was measured", nil
		}
		return f.lossEffect(ctx, pid, pn)
	default:
		if pid == 0 {
			return false, "pod is gone before its qdisc counters were read", nil
		}
		return bandwidthEffect(ctx, f.deps.Exec, pid, pn)
	}
}

// partitionEffect: the drill's requests to the pod scheduled since the
// fault went in fail or time out, at least PartitionMinFailures of them,
// and none succeeds.
func (f *netFault) partitionEffect(pn *podNet) (bool, string) {
	return PartitionEffect(f.deps.Traffic, pn.pod.Name, pn.pod.Status.PodIP, pn.at)
}

// PartitionEffect proves the partition of pod (name, ip) that went in at
// since by ev, the drill's traffic: at least PartitionMinFailures requests
// to ip scheduled since then failed or timed out and none succeeded. A nil
// ev (a drill without traffic) or no request to ip proves nothing.
func PartitionEffect(ev TrafficEvidence, name, ip string, since time.Time) (bool, string) {
	if ev == nil {
		return false, fmt.Sprintf("the drill sends no traffic: the partition of pod %s cannot be proven by its effect", name)
	}
	c := ev.Endpoint(ip, since, time.Time{})
	switch {
	case c.Sent == 0:
		return false, fmt.Sprintf("no traffic reached pod %s (%s) since the fault", name, ip)
	case c.Succeeded > 0:
		return false, fmt.Sprintf("pod %s (%s) still answered since the fault: %s", name, ip, c)
	case c.Errors() < PartitionMinFailures:
		return false, fmt.Sprintf("pod %s (%s): %d of the %d failed requests needed since the fault (%s)", name, ip, c.Errors(), PartitionMinFailures, c)
	}
	return true, fmt.Sprintf("traffic to pod %s (%s) since the fault: %s, none succeeded", name, ip, c)
}

// lossEffect: the packets the fault chain dropped, out of those that
// crossed it, are within the tolerance of the configured loss.
func (f *netFault) lossEffect(ctx context.Context, pid int, pn *podNet) (bool, string, error) {
	out, err := netnsCmd{pid: pid, name: "iptables", args: []string{"-w", "-n", "-v", "-x", "-L"}}.run(ctx, f.deps.Exec)
	if err != nil {
		return false, "", err
	}
	seen, dropped := chainCounters(out)
	p := f.set.LossPercent / 100
	var traffic string
	if f.deps.Traffic != nil {
		c := f.deps.Traffic.Endpoint(pn.pod.Status.PodIP, pn.at, time.Time{})
		traffic = "; requests since the fault: " + c.String()
	}
	if seen < LossMinPackets {
		return false, fmt.Sprintf("only %d packets crossed the fault chain, %d needed to measure the loss%s", seen, LossMinPackets, traffic), nil
	}
	got := float64(dropped) / float64(seen)
	tol := max(LossTolerance, 3*math.Sqrt(p*(1-p)/float64(seen)))
	msg := fmt.Sprintf("the fault chain dropped %d of %d packets (%.1f%%, configured %.1f%% ± %.1f points)%s",
		dropped, seen, 100*got, 100*p, 100*tol, traffic)
	return math.Abs(got-p) <= tol, msg, nil
}

// chainCounters reads `iptables -n -v -x -L`: the packets that jumped into
// Chain and the packets its DROP rules dropped.
func chainCounters(out string) (seen, dropped int64) {
	chain := ""
	for _, line := range strings.Split(out, "\n") {
		fs := strings.Fields(line)
		if len(fs) >= 2 && fs[0] == "Chain" {
			chain = fs[1]
			continue
		}
		if len(fs) < 3 {
			continue
		}
		n, err := strconv.ParseInt(fs[0], 10, 64)
		if err != nil {
			continue // the column header
		}
		switch {
		case fs[2] == Chain:
			seen += n
		case chain == Chain && fs[2] == "DROP":
			dropped += n
		}
	}
	return seen, dropped
}

var tbfStatsRE = regexp.MustCompile(`Sent (\d+) bytes (\d+) pkt \(dropped (\d+), overlimits (\d+)`)

// bandwidthEffect: tc's own counters of the fault's tbf qdisc show that it
// held packets back (overlimits) or dropped them. The drill's traffic
// cannot tell a rate limit from a slow pod, so the proof is the qdisc's.
func bandwidthEffect(ctx context.Context, r Runner, pid int, pn *podNet) (bool, string, error) {
	out, err := netnsCmd{pid: pid, name: "tc", args: []string{"-s", "qdisc", "show", "dev", pn.iface}}.run(ctx, r)
	if err != nil {
		return false, "", err
	}
	i := strings.Index(out, "tbf "+tbfHandle+" root")
	if i < 0 {
		return false, "the tbf qdisc is not in place", nil
	}
	m := tbfStatsRE.FindStringSubmatch(out[i:])
	if m == nil {
		return false, "tc -s shows no counters for the tbf qdisc", nil
	}
	dropped, _ := strconv.ParseInt(m[3], 10, 64)
	over, _ := strconv.ParseInt(m[4], 10, 64)
	msg := fmt.Sprintf("tc -s qdisc: the tbf qdisc on %s sent %s packets, dropped %d, overlimits %d", pn.iface, m[2], dropped, over)
	return dropped+over > 0, msg, nil
}
