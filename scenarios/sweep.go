package scenarios

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/internal/workload"
)

// Sweeper reverts what a crashed run left behind: bad images, bad config
// (ConfigMap values and env) and network fault rules in pods.
type Sweeper struct {
	deps Deps
}

// NewSweeper returns a Sweeper; deps.Client is required.
func NewSweeper(deps Deps) *Sweeper { return &Sweeper{deps: deps.withDefaults()} }

// SweepOptions choose what to revert.
type SweepOptions struct {
	// Namespace to sweep ("" for all namespaces; network rules are only
	// swept in a named namespace).
	Namespace string
	// Owner, when set, reverts everything of that drill (owner annotation)
	// whatever its expiry; when empty only changes whose expiry has passed.
	Owner string
	// Network also removes the FIREDRILL-FAULT chain and the fault's tbf
	// qdisc from every Running pod of Namespace.
	Network bool
}

// due reports whether an object with these annotations is to be reverted.
func (s *Sweeper) due(ann map[string]string, o SweepOptions) bool {
	owner, ok := ann[AnnotationOwner]
	if !ok {
		return false
	}
	if o.Owner != "" {
		return owner == o.Owner
	}
	exp, err := time.Parse(time.RFC3339, ann[AnnotationExpires])
	return err != nil || !s.deps.Now().Before(exp) // unreadable expiry: treat as expired
}

// Sweep reverts the leftovers and returns what it did.
func (s *Sweeper) Sweep(ctx context.Context, o SweepOptions) ([]string, error) {
	var done []string
	var errs []error
	targets, err := s.workloads(ctx, o.Namespace)
	if err != nil {
		return nil, fmt.Errorf("scenarios: sweep: %w", err)
	}
	for _, d := range targets {
		if !s.due(d.Annotations, o) {
			continue
		}
		name := d.String()
		if v, ok := d.Annotations[AnnotationBadImage]; ok {
			rec, err := parseBadImage(v)
			if err == nil {
				err = revertBadImage(ctx, s.deps, d.Kind, d.Namespace, d.Name, rec)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			} else {
				done = append(done, fmt.Sprintf("%s: bad image %s reverted to %s", name, rec.Image, rec.PreviousImage))
			}
		}
		if v, ok := d.Annotations[AnnotationBadConfig]; ok {
			rec, err := parseConfigRecord(v)
			if err == nil {
				err = revertEnv(ctx, s.deps, d.Kind, d.Namespace, d.Name, rec)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", name, err))
			} else {
				done = append(done, name+": bad env reverted")
			}
		}
	}
	cms, err := s.deps.Client.CoreV1().ConfigMaps(o.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return done, fmt.Errorf("scenarios: sweep: %w", err)
	}
	for _, cm := range cms.Items {
		v, ok := cm.Annotations[AnnotationBadConfig]
		if !ok || !s.due(cm.Annotations, o) {
			continue
		}
		rec, err := parseConfigRecord(v)
		if err == nil {
			err = revertConfigMap(ctx, s.deps, cm.Namespace, cm.Name, rec, true)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("ConfigMap %s/%s: %w", cm.Namespace, cm.Name, err))
		} else {
			done = append(done, fmt.Sprintf("ConfigMap %s/%s: values restored, deployment %s restarted", cm.Namespace, cm.Name, rec.Deployment))
		}
	}
	if o.Network && o.Namespace != "" {
		d, err := s.sweepNetwork(ctx, o.Namespace)
		done = append(done, d...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return done, fmt.Errorf("scenarios: sweep: %w", errors.Join(errs...))
	}
	return done, nil
}

// workloads are the Deployments of ns and, with a dynamic client, its
// Argo Rollouts (none when the Rollout CRD is not installed).
func (s *Sweeper) workloads(ctx context.Context, ns string) ([]*workload.Workload, error) {
	kinds := []drills.TargetKind{drills.TargetDeployment}
	if s.deps.Dynamic != nil {
		kinds = append(kinds, drills.TargetRollout)
	}
	var out []*workload.Workload
	for _, k := range kinds {
		wc, err := s.deps.workloads(k)
		if err != nil {
			return nil, err
		}
		ws, err := wc.List(ctx, ns)
		if err != nil && k == drills.TargetRollout && (apierrors.IsNotFound(err) || meta.IsNoMatchError(err)) {
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, ws...)
	}
	return out, nil
}

// sweepNetwork removes every FIREDRILL-FAULT chain (and the jumps into it)
// and every tbf qdisc with the fault's handle in the namespace's pods.
func (s *Sweeper) sweepNetwork(ctx context.Context, ns string) ([]string, error) {
	pods, err := s.deps.Client.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	var done []string
	var errs []error
	for _, p := range pods.Items {
		// A terminating pod's network namespace goes with it, and its
		// process may already be gone while the phase still says Running.
		if p.Status.Phase != corev1.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		// A hostNetwork pod's netns is the node's: no fault ever goes in
		// there (refuseUnsafePods), so nothing in it is ours to undo.
		if p.Spec.HostNetwork {
			continue
		}
		n, err := CleanNetns(ctx, s.deps.Exec, s.deps.Netns, &p)
		if err != nil {
			errs = append(errs, fmt.Errorf("pod %s: %w", p.Name, err))
		}
		if n > 0 {
			done = append(done, fmt.Sprintf("Pod %s/%s: %d network fault commands undone", p.Namespace, p.Name, n))
		}
	}
	return done, errors.Join(errs...)
}

// CleanNetns removes every trace of network faults from the pod's network
// namespace: jumps into FIREDRILL-FAULT, the chain, and the tbf qdisc with
// the fault's handle. It returns how many removals it ran.
func CleanNetns(ctx context.Context, r Runner, finder NetnsFinder, pod *corev1.Pod) (int, error) {
	pid, err := finder.PID(ctx, pod)
	if err != nil {
		return 0, err
	}
	out, err := netnsCmd{pid: pid, name: "iptables", args: []string{"-w", "-S"}}.run(ctx, r)
	if err != nil {
		return 0, err
	}
	var cmds []netnsCmd
	hasChain := false
	for _, l := range strings.Split(out, "\n") {
		l = strings.TrimSpace(l)
		if l == "-N "+Chain {
			hasChain = true
		}
		if strings.HasPrefix(l, "-A ") && strings.HasSuffix(l, "-j "+Chain) {
			args := strings.Fields(l)
			args[0] = "-D"
			cmds = append(cmds, netnsCmd{pid: pid, name: "iptables", args: append([]string{"-w"}, args...)})
		}
	}
	if hasChain {
		cmds = append(cmds,
			netnsCmd{pid: pid, name: "iptables", args: []string{"-w", "-F", Chain}},
			netnsCmd{pid: pid, name: "iptables", args: []string{"-w", "-X", Chain}})
	}
	qd, err := netnsCmd{pid: pid, name: "tc", args: []string{"qdisc", "show"}}.run(ctx, r)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(qd, "\n") {
		fs := strings.Fields(l)
		// qdisc tbf fd: dev eth0 root ...
		if len(fs) >= 6 && fs[1] == "tbf" && fs[2] == tbfHandle && fs[3] == "dev" && fs[5] == "root" {
			cmds = append(cmds, netnsCmd{pid: pid, name: "tc", args: []string{"qdisc", "del", "dev", fs[4], "root", "handle", tbfHandle}})
		}
	}
	n := 0
	for _, c := range cmds {
		if _, err := c.run(ctx, r); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
