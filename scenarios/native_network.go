package scenarios

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/firedrill/firedrill/drills"
)

// Chain is the iptables chain that holds a pod's network fault rules.
const Chain = "FIREDRILL-FAULT"

// tbfHandle marks the tbf qdisc that bandwidth adds.
const tbfHandle = "fd:"

var rateRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?(bit|kbit|mbit|gbit|tbit|bps|kbps|mbps|gbps|tbps)$`)

// netFault is network-partition, network-loss or bandwidth, made with
// iptables and tc inside each chosen pod's network namespace.
type netFault struct {
	spec   drills.Fault
	target drills.Target
	deps   Deps
	set    drills.NetworkSettings

	mu   sync.Mutex
	done []*podNet
}

// podNet is what was changed in one pod.
type podNet struct {
	pod   corev1.Pod
	iface string
	jumps [][]string // iptables args of the jump rules inserted
	chain bool
	tbf   bool
	// at is when the pod's rules (or qdisc) were all in.
	at time.Time
	// proof is the measured effect, once seen (it stays proven).
	proof string
}

func newNetworkFault(_ context.Context, spec drills.Fault, target drills.Target, deps Deps) (Fault, error) {
	var set drills.NetworkSettings
	if spec.Network != nil {
		set = *spec.Network
	}
	if set.Direction == "" {
		set.Direction = drills.DirectionTo
	}
	switch set.Direction {
	case drills.DirectionTo, drills.DirectionFrom, drills.DirectionBoth:
	default:
		return nil, fmt.Errorf("scenarios: %s: unknown direction %q", spec.Type, set.Direction)
	}
	switch spec.Type {
	case drills.FaultNetworkLoss:
		if set.LossPercent <= 0 || set.LossPercent > 100 {
			return nil, fmt.Errorf("scenarios: network-loss: network.lossPercent must be in (0, 100], got %v", set.LossPercent)
		}
	case drills.FaultBandwidth:
		if !rateRE.MatchString(set.Rate) {
			return nil, fmt.Errorf("scenarios: bandwidth: network.rate %q is not a tc rate such as 1mbit or 100kbps", set.Rate)
		}
		if set.Limit == 0 {
			set.Limit = 20000
		}
		if set.Buffer == 0 {
			set.Buffer = 10000
		}
	case drills.FaultNetworkPartition:
	default:
		return nil, fmt.Errorf("scenarios: native network fault cannot do %s", spec.Type)
	}
	if deps.Client == nil {
		return nil, fmt.Errorf("scenarios: %s: no Kubernetes client", spec.Type)
	}
	return &netFault{spec: spec, target: target, deps: deps, set: set}, nil
}

func (f *netFault) Describe() string {
	what := "drop all packets"
	switch f.spec.Type {
	case drills.FaultNetworkLoss:
		what = fmt.Sprintf("drop %v%% of packets", f.set.LossPercent)
	case drills.FaultBandwidth:
		return fmt.Sprintf("bandwidth: limit egress of %s of the pods of %s/%s to %s", describeMode(f.spec.Selector), f.target.Namespace, f.target.Name, f.set.Rate)
	}
	return fmt.Sprintf("%s: %s (direction %s) on %s of the pods of %s/%s", f.spec.Type, what, f.set.Direction, describeMode(f.spec.Selector), f.target.Namespace, f.target.Name)
}

// jumpRules are the jumps into Chain for the direction: "to" is the pod's
// outgoing traffic, "from" its incoming; loopback is never touched.
func (f *netFault) jumpRules() [][]string {
	var out [][]string
	if f.set.Direction == drills.DirectionFrom || f.set.Direction == drills.DirectionBoth {
		out = append(out, []string{"INPUT", "!", "-i", "lo", "-j", Chain})
	}
	if f.set.Direction == drills.DirectionTo || f.set.Direction == drills.DirectionBoth {
		out = append(out, []string{"OUTPUT", "!", "-o", "lo", "-j", Chain})
	}
	return out
}

// plan is the commands for one pod, in order.
func (f *netFault) plan(pid int, pidText, iface string, meta ownerMeta) []netnsCmd {
	ipt := func(args ...string) netnsCmd {
		return netnsCmd{pid: pid, pidText: pidText, name: "iptables", args: append([]string{"-w"}, args...)}
	}
	if f.spec.Type == drills.FaultBandwidth {
		return []netnsCmd{{pid: pid, pidText: pidText, name: "tc", args: []string{
			"qdisc", "add", "dev", iface, "root", "handle", tbfHandle, "tbf",
			"rate", f.set.Rate, "burst", strconv.FormatUint(uint64(f.set.Buffer), 10), "limit", strconv.FormatUint(uint64(f.set.Limit), 10),
		}}}
	}
	rule := []string{"-A", Chain, "-m", "comment", "--comment", fmt.Sprintf("%s=%s %s=%s", AnnotationOwner, meta.owner, AnnotationExpires, meta.expires.UTC().Format("2006-01-02T15:04:05Z"))}
	if f.spec.Type == drills.FaultNetworkLoss && f.set.LossPercent < 100 {
		rule = append(rule, "-m", "statistic", "--mode", "random", "--probability", strconv.FormatFloat(f.set.LossPercent/100, 'f', 4, 64))
	}
	rule = append(rule, "-j", "DROP")
	cmds := []netnsCmd{ipt("-N", Chain), ipt(rule...)}
	for _, j := range f.jumpRules() {
		cmds = append(cmds, ipt(append([]string{"-I"}, j...)...))
	}
	return cmds
}

func (f *netFault) Inject(ctx context.Context) (*Injection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.done) > 0 {
		return nil, fmt.Errorf("scenarios: %s: already injected", f.spec.Type)
	}
	sel, err := SelectPods(ctx, f.deps.Client, f.spec.Selector, f.target, f.deps.rng(f.spec), f.deps.MaxShare)
	if err != nil {
		return nil, fmt.Errorf("scenarios: %s: %w", f.spec.Type, err)
	}
	// Inside a hostNetwork pod's "netns" is the node's.
	if err := refuseUnsafePods(f.spec.Type, sel.Pods); err != nil {
		return nil, err
	}
	meta := f.deps.meta(f.spec)
	inj := &Injection{Type: f.spec.Type, DryRun: f.deps.DryRun, At: f.deps.Now(), Targets: podTargets(sel.Pods)}
	for _, pod := range sel.Pods {
		obj := "Pod " + pod.Namespace + "/" + pod.Name + " (netns)"
		pid, err := f.deps.Netns.PID(ctx, &pod)
		pidText := ""
		if err != nil {
			if !f.deps.DryRun {
				f.undoAll(ctx)
				return nil, fmt.Errorf("scenarios: %s: %w", f.spec.Type, err)
			}
			pidText = "<pid of " + pod.Name + ">"
		}
		iface := "eth0"
		if f.spec.Type == drills.FaultBandwidth && pidText == "" {
			if iface, err = podIface(ctx, f.deps.Exec, pid, pod.Status.PodIP); err != nil {
				f.undoAll(ctx)
				return nil, fmt.Errorf("scenarios: %s: pod %s: %w", f.spec.Type, pod.Name, err)
			}
		}
		cmds := f.plan(pid, pidText, iface, meta)
		for _, c := range cmds {
			inj.Changes = append(inj.Changes, Change{Object: obj, Action: "exec", Detail: c.String()})
		}
		if f.deps.DryRun {
			continue
		}
		pn := &podNet{pod: pod, iface: iface}
		f.done = append(f.done, pn)
		for _, c := range cmds {
			if _, err := c.run(ctx, f.deps.Exec); err != nil {
				f.undoAll(ctx)
				return nil, fmt.Errorf("scenarios: %s: pod %s: %w", f.spec.Type, pod.Name, err)
			}
			switch {
			case c.name == "tc":
				pn.tbf = true
			case c.args[1] == "-N":
				pn.chain = true
			case c.args[1] == "-I":
				pn.jumps = append(pn.jumps, c.args[2:])
			}
		}
		pn.at = f.deps.Now()
		f.deps.Logger.InfoContext(ctx, "network fault in", "type", f.spec.Type, "pod", pod.Namespace+"/"+pod.Name, "pid", pid)
	}
	return inj, nil
}

// podIface is the interface that carries ip in the netns of pid.
func podIface(ctx context.Context, r Runner, pid int, ip string) (string, error) {
	out, err := netnsCmd{pid: pid, name: "ip", args: []string{"-o", "-4", "addr", "show"}}.run(ctx, r)
	if err != nil {
		return "", err
	}
	for _, line := range strings.Split(out, "\n") {
		fs := strings.Fields(line)
		if len(fs) >= 4 && fs[1] != "lo" && (ip == "" || strings.HasPrefix(fs[3], ip+"/")) {
			return strings.SplitN(fs[1], "@", 2)[0], nil
		}
	}
	return "", fmt.Errorf("no interface with address %s", ip)
}

func (f *netFault) undoAll(ctx context.Context) {
	if err := f.removeLocked(ctx); err != nil {
		f.deps.Logger.WarnContext(ctx, "network fault: undo after a failed inject", "err", err)
	}
}

// Remove deletes exactly the rules and qdisc that Inject added. A pod that
// is gone took its network namespace with it.
func (f *netFault) Remove(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.removeLocked(ctx)
}

func (f *netFault) removeLocked(ctx context.Context) error {
	var errs []error
	var left []*podNet
	for _, pn := range f.done {
		pid, gone, err := f.livePID(ctx, &pn.pod)
		if gone {
			continue
		}
		if err != nil {
			errs = append(errs, err)
			left = append(left, pn)
			continue
		}
		var cmds []netnsCmd
		for _, j := range pn.jumps {
			cmds = append(cmds, netnsCmd{pid: pid, name: "iptables", args: append([]string{"-w", "-D"}, j...)})
		}
		if pn.chain {
			cmds = append(cmds,
				netnsCmd{pid: pid, name: "iptables", args: []string{"-w", "-F", Chain}},
				netnsCmd{pid: pid, name: "iptables", args: []string{"-w", "-X", Chain}})
		}
		if pn.tbf {
			cmds = append(cmds, netnsCmd{pid: pid, name: "tc", args: []string{"qdisc", "del", "dev", pn.iface, "root", "handle", tbfHandle}})
		}
		failed := false
		for _, c := range cmds {
			if out, err := c.run(ctx, f.deps.Exec); err != nil && !alreadyGone(out) {
				errs = append(errs, fmt.Errorf("pod %s: %w", pn.pod.Name, err))
				failed = true
			}
		}
		if failed {
			left = append(left, pn)
		}
	}
	f.done = left
	if len(errs) > 0 {
		return fmt.Errorf("scenarios: %s: remove: %w", f.spec.Type, errors.Join(errs...))
	}
	return nil
}

// livePID finds the pod's netns process; gone is true when the pod (with
// its network namespace) no longer exists.
func (f *netFault) livePID(ctx context.Context, pod *corev1.Pod) (pid int, gone bool, err error) {
	cur, err := f.deps.Client.CoreV1().Pods(pod.Namespace).Get(ctx, pod.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) || (err == nil && cur.UID != pod.UID) {
		return 0, true, nil
	}
	if err != nil {
		return 0, false, err
	}
	pid, err = f.deps.Netns.PID(ctx, pod)
	if err != nil {
		return 0, false, err
	}
	return pid, false, nil
}

// Status proves the fault by its measured effect on every chosen pod (see
// effect): a partition by the drill's requests to the pod failing, a loss
// by the fault chain's packet counters, a bandwidth limit by its qdisc's
// counters. Rules that are merely in place prove nothing. A pod's proof,
// once measured, stays.
func (f *netFault) Status(ctx context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.done) == 0 {
		return Status{}, ErrNotInjected
	}
	st := Status{Injected: true}
	proven := 0
	var why []string
	for _, pn := range f.done {
		if pn.proof != "" {
			proven++
			st.Evidence = append(st.Evidence, pn.proof)
			continue
		}
		pid, gone, err := f.livePID(ctx, &pn.pod)
		if err != nil {
			return Status{}, fmt.Errorf("scenarios: %s: status: %w", f.spec.Type, err)
		}
		if !gone {
			in, ev, err := netnsState(ctx, f.deps.Exec, pid, pn)
			if err != nil {
				return Status{}, fmt.Errorf("scenarios: %s: status: pod %s: %w", f.spec.Type, pn.pod.Name, err)
			}
			if !in {
				msg := fmt.Sprintf("pod %s: the fault is not in place (%s)", pn.pod.Name, ev)
				st.Evidence, why = append(st.Evidence, msg), append(why, msg)
				continue
			}
		} else {
			pid = 0
		}
		ok, msg, err := f.effect(ctx, pid, pn)
		if err != nil {
			return Status{}, fmt.Errorf("scenarios: %s: status: pod %s: %w", f.spec.Type, pn.pod.Name, err)
		}
		if !strings.Contains(msg, pn.pod.Name) {
			msg = fmt.Sprintf("pod %s (%s): %s", pn.pod.Name, pn.pod.Status.PodIP, msg)
		}
		st.Evidence = append(st.Evidence, msg)
		if ok {
			pn.proof = msg
			proven++
		} else {
			why = append(why, msg)
		}
	}
	st.Effective = proven == len(f.done)
	st.Message = fmt.Sprintf("%s effect measured on %d of %d pods", f.spec.Type, proven, len(f.done))
	switch {
	case st.Effective && len(st.Evidence) > 0:
		st.Message += ": " + strings.Join(st.Evidence, "; ")
	case len(why) > 0:
		st.Message += ": " + strings.Join(why, "; ")
	}
	return st, nil
}

// netnsState checks pn's rules or qdisc in the netns of pid.
func netnsState(ctx context.Context, r Runner, pid int, pn *podNet) (bool, string, error) {
	if pn.tbf {
		out, err := netnsCmd{pid: pid, name: "tc", args: []string{"qdisc", "show", "dev", pn.iface}}.run(ctx, r)
		if err != nil {
			return false, "", err
		}
		out = strings.TrimSpace(out)
		return strings.Contains(out, "tbf "+tbfHandle+" root"), out, nil
	}
	out, err := netnsCmd{pid: pid, name: "iptables", args: []string{"-w", "-S"}}.run(ctx, r)
	if err != nil {
		return false, "", err
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	var ours []string
	drop, jumps := false, 0
	for _, l := range lines {
		if strings.Contains(l, Chain) {
			ours = append(ours, l)
		}
		if strings.HasPrefix(l, "-A "+Chain+" ") && strings.HasSuffix(l, "-j DROP") {
			drop = true
		}
		if strings.HasSuffix(l, "-j "+Chain) {
			jumps++
		}
	}
	return drop && jumps >= len(pn.jumps), strings.Join(ours, "; "), nil
}

// alreadyGone reports whether a removal failed only because what it
// removes is not there (a sweeper or a restart got there first).
func alreadyGone(out string) bool {
	for _, s := range []string{
		"does not exist",                          // iptables-nft: chain
		"No chain/target/match by that name",      // iptables: chain or rule
		"does a matching rule exist",              // iptables: rule
		"Cannot find specified qdisc",             // tc
		"Cannot delete qdisc with handle of zero", // tc: default qdisc back
		"Invalid handle",                          // tc
	} {
		if strings.Contains(out, s) {
			return true
		}
	}
	return false
}
