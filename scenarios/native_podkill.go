package scenarios

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/firedrill/firedrill/drills"
)

// podKill deletes the chosen pods.
type podKill struct {
	spec   drills.Fault
	target drills.Target
	deps   Deps

	mu     sync.Mutex
	sel    *Selection
	killed []Target
	at     time.Time
	// outOfService are the killed pods seen out of the Service's ready
	// endpoints (by name), and gone those seen gone: once seen, kept.
	outOfService map[string]bool
	gone         map[string]bool
}

func newPodKill(_ context.Context, spec drills.Fault, target drills.Target, deps Deps) (Fault, error) {
	if deps.Client == nil {
		return nil, fmt.Errorf("scenarios: %s: no Kubernetes client", spec.Type)
	}
	return &podKill{spec: spec, target: target, deps: deps}, nil
}

func (f *podKill) Describe() string {
	s := fmt.Sprintf("pod-kill: delete %s of the pods of %s/%s", describeMode(f.spec.Selector), f.target.Namespace, f.target.Name)
	if f.spec.PodKill != nil && f.spec.PodKill.GracePeriodSeconds != nil {
		s += fmt.Sprintf(" (grace period %ds)", *f.spec.PodKill.GracePeriodSeconds)
	}
	return s
}

func (f *podKill) Inject(ctx context.Context) (*Injection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sel, err := SelectPods(ctx, f.deps.Client, f.spec.Selector, f.target, f.deps.rng(f.spec), f.deps.MaxShare)
	if err != nil {
		return nil, fmt.Errorf("scenarios: pod-kill: %w", err)
	}
	inj := &Injection{Type: f.spec.Type, DryRun: f.deps.DryRun, At: f.deps.Now(), Targets: podTargets(sel.Pods)}
	opts := metav1.DeleteOptions{}
	if f.spec.PodKill != nil && f.spec.PodKill.GracePeriodSeconds != nil {
		g := *f.spec.PodKill.GracePeriodSeconds
		opts.GracePeriodSeconds = &g
	}
	for _, p := range sel.Pods {
		uid := p.UID
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
		detail := fmt.Sprintf("uid=%s", uid)
		if opts.GracePeriodSeconds != nil {
			detail += fmt.Sprintf(" gracePeriodSeconds=%d", *opts.GracePeriodSeconds)
		}
		inj.Changes = append(inj.Changes, Change{Object: "Pod " + p.Namespace + "/" + p.Name, Action: "delete", Detail: detail})
		if f.deps.DryRun {
			continue
		}
		if err := f.deps.Client.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, opts); err != nil && !apierrors.IsNotFound(err) {
			return inj, fmt.Errorf("scenarios: pod-kill: delete %s/%s: %w", p.Namespace, p.Name, err)
		}
		f.deps.Logger.InfoContext(ctx, "pod-kill: deleted pod", "pod", p.Namespace+"/"+p.Name, "uid", uid)
		f.killed = append(f.killed, Target{Kind: "Pod", Namespace: p.Namespace, Name: p.Name, UID: string(uid), IP: p.Status.PodIP})
	}
	if !f.deps.DryRun {
		f.sel, f.at = sel, inj.At
		f.outOfService, f.gone = map[string]bool{}, map[string]bool{}
	}
	return inj, nil
}

// Remove has nothing to undo: the workload's controller replaces the pods.
func (f *podKill) Remove(context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sel = nil
	return nil
}

// Status proves the kill: none of the killed UIDs exists any more, and
// each killed pod is out of the Service's ready endpoints (EndpointSlices)
// or the pods were replaced (as many Running pods as before match the
// selector again). Without a Service only the replacement proves it.
func (f *podKill) Status(ctx context.Context) (Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sel == nil {
		return Status{}, ErrNotInjected
	}
	list, err := f.deps.Client.CoreV1().Pods(f.sel.Namespace).List(ctx, metav1.ListOptions{LabelSelector: f.sel.Selector.String()})
	if err != nil {
		return Status{}, fmt.Errorf("scenarios: pod-kill: %w", err)
	}
	var ready map[string]bool
	if f.target.Service != "" {
		if ready, err = ReadyEndpointIPs(ctx, f.deps.Client, f.sel.Namespace, f.target.Service); err != nil {
			return Status{}, fmt.Errorf("scenarios: pod-kill: %w", err)
		}
	}
	byUID := map[string]string{}
	for _, k := range f.killed {
		byUID[k.UID] = k.Name
	}
	st := Status{Injected: true}
	alive := map[string]bool{}
	running := 0
	for _, p := range list.Items {
		if !f.sel.Selector.Matches(labels.Set(p.Labels)) {
			continue
		}
		if name, ok := byUID[string(p.UID)]; ok {
			alive[name] = true
			st.Evidence = append(st.Evidence, fmt.Sprintf("killed pod %s (uid %s) still exists", p.Name, p.UID))
			continue
		}
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			running++
			st.Evidence = append(st.Evidence, fmt.Sprintf("running pod %s (uid %s)", p.Name, p.UID))
		}
	}
	out := 0
	for _, k := range f.killed {
		if !alive[k.Name] {
			f.gone[k.Name] = true
		}
		if ready != nil && k.IP != "" && !ready[k.IP] {
			f.outOfService[k.Name] = true
		}
		if f.outOfService[k.Name] {
			out++
		}
		if ready != nil {
			st.Evidence = append(st.Evidence, fmt.Sprintf("killed pod %s (%s) out of the ready endpoints of Service %s: %v", k.Name, k.IP, f.target.Service, f.outOfService[k.Name]))
		}
		if f.deps.Traffic != nil && k.IP != "" {
			st.Evidence = append(st.Evidence, fmt.Sprintf("traffic to %s (%s) since the kill: %s", k.Name, k.IP, f.deps.Traffic.Endpoint(k.IP, f.at, time.Time{})))
		}
	}
	goneAll := len(f.gone) == len(f.killed)
	replaced := running >= f.sel.Candidates
	st.Effective = len(f.killed) > 0 && goneAll && ((ready != nil && out == len(f.killed)) || replaced)
	parts := []string{fmt.Sprintf("%d of %d killed pods gone", len(f.gone), len(f.killed))}
	if ready != nil {
		parts = append(parts, fmt.Sprintf("%d of %d out of the ready endpoints of Service %s", out, len(f.killed), f.target.Service))
	}
	parts = append(parts, fmt.Sprintf("%d of %d pods running again", running, f.sel.Candidates))
	st.Message = strings.Join(parts, "; ")
	return st, nil
}

func describeMode(sel *drills.Selector) string {
	if sel == nil {
		return "one"
	}
	switch modeOf(sel) {
	case drills.ModeFixed:
		return fmt.Sprintf("%d", sel.Value)
	case drills.ModeFixedPercent:
		return fmt.Sprintf("%d%%", sel.Value)
	default:
		return string(modeOf(sel))
	}
}
