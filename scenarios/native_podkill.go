package scenarios

import (
	"context"
	"fmt"
	"slices"
	"sync"

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
		f.sel = sel
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

// Status proves the kill: none of the killed UIDs exists any more and as
// many Running pods as before match the selector again.
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
	var uids []string
	for _, k := range f.killed {
		uids = append(uids, k.UID)
	}
	st := Status{Injected: true}
	alive, running := 0, 0
	for _, p := range list.Items {
		if !f.sel.Selector.Matches(labels.Set(p.Labels)) {
			continue
		}
		if slices.Contains(uids, string(p.UID)) {
			alive++
			st.Evidence = append(st.Evidence, fmt.Sprintf("killed pod %s (uid %s) still exists", p.Name, p.UID))
			continue
		}
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			running++
			st.Evidence = append(st.Evidence, fmt.Sprintf("running pod %s (uid %s)", p.Name, p.UID))
		}
	}
	st.Effective = alive == 0 && running >= f.sel.Candidates
	st.Message = fmt.Sprintf("%d of %d killed pods gone; %d of %d pods running again", len(f.killed)-alive, len(f.killed), running, f.sel.Candidates)
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
