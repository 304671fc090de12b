package chaosmesh

import (
	"context"
	"fmt"
	"strings"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/firedrill/firedrill/scenarios"
)

// podKillEffect: no killed pod's UID exists any more and as many Running
// pods as before match the selector (the same proof as the native
// pod-kill).
func (f *fault) podKillEffect(ctx context.Context, st *v1alpha1.ChaosStatus, out *scenarios.Status) (bool, string, error) {
	killed := map[string]string{} // uid -> name
	for _, r := range st.Experiment.Records {
		_, name, ok := recordPod(r.Id)
		if !ok {
			continue
		}
		p, ok := f.before[name]
		if !ok {
			out.Evidence = append(out.Evidence, fmt.Sprintf("record %s names a pod that was not Running at injection", r.Id))
			return false, "Chaos Mesh killed a pod firedrill did not see", nil
		}
		killed[string(p.UID)] = name
	}
	pods, err := f.listPods(ctx)
	if err != nil {
		return false, "", err
	}
	alive, running := 0, 0
	for _, p := range pods {
		if name, ok := killed[string(p.UID)]; ok {
			alive++
			out.Evidence = append(out.Evidence, fmt.Sprintf("killed pod %s (uid %s) still exists", name, p.UID))
			continue
		}
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
			running++
			out.Evidence = append(out.Evidence, fmt.Sprintf("running pod %s (uid %s)", p.Name, p.UID))
		}
	}
	for uid, name := range killed {
		out.Evidence = append(out.Evidence, fmt.Sprintf("killed pod %s had uid %s", name, uid))
	}
	msg := fmt.Sprintf("%d of %d killed pods gone; %d of %d pods running again", len(killed)-alive, len(killed), running, f.candidates)
	return len(killed) > 0 && alive == 0 && running >= f.candidates, msg, nil
}

// podFailureEffect: every failed pod (same UID) is not Ready.
func (f *fault) podFailureEffect(ctx context.Context, st *v1alpha1.ChaosStatus, out *scenarios.Status) (bool, string, error) {
	failed, notReady := 0, 0
	for _, r := range st.Experiment.Records {
		ns, name, ok := recordPod(r.Id)
		if !ok {
			continue
		}
		failed++
		p, err := f.deps.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			out.Evidence = append(out.Evidence, fmt.Sprintf("failed pod %s is gone", name))
			continue
		}
		if err != nil {
			return false, "", fmt.Errorf("chaosmesh: get pod %s/%s: %w", ns, name, err)
		}
		var images []string
		for _, c := range p.Spec.Containers {
			images = append(images, c.Image)
		}
		if ready(p) {
			out.Evidence = append(out.Evidence, fmt.Sprintf("pod %s (uid %s) is still Ready (images %s)", name, p.UID, strings.Join(images, ",")))
			continue
		}
		notReady++
		out.Evidence = append(out.Evidence, fmt.Sprintf("pod %s (uid %s) is not Ready (images %s)", name, p.UID, strings.Join(images, ",")))
	}
	return failed > 0 && notReady == failed, fmt.Sprintf("%d of %d failed pods not Ready", notReady, failed), nil
}

// containerKillEffect: every killed container restarted (its restart
// count grew) or its pod was replaced.
func (f *fault) containerKillEffect(ctx context.Context, st *v1alpha1.ChaosStatus, out *scenarios.Status) (bool, string, error) {
	killed, restarted := 0, 0
	for _, r := range st.Experiment.Records {
		parts := strings.Split(r.Id, "/")
		if len(parts) != 3 {
			continue
		}
		ns, name, ctr := parts[0], parts[1], parts[2]
		killed++
		before := restarts(f.before[name], ctr)
		p, err := f.deps.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && p.UID != f.before[name].UID) {
			restarted++
			out.Evidence = append(out.Evidence, fmt.Sprintf("pod %s was replaced", name))
			continue
		}
		if err != nil {
			return false, "", fmt.Errorf("chaosmesh: get pod %s/%s: %w", ns, name, err)
		}
		now := restarts(*p, ctr)
		if now > before {
			restarted++
		}
		out.Evidence = append(out.Evidence, fmt.Sprintf("container %s of pod %s restarted %d time(s), %d before", ctr, name, now, before))
	}
	return killed > 0 && restarted == killed, fmt.Sprintf("%d of %d killed containers restarted", restarted, killed), nil
}

func restarts(p corev1.Pod, container string) int32 {
	for _, s := range p.Status.ContainerStatuses {
		if s.Name == container {
			return s.RestartCount
		}
	}
	return 0
}

func ready(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// listPods lists the pods the selection matches, whatever their phase.
func (f *fault) listPods(ctx context.Context) ([]corev1.Pod, error) {
	ls, err := f.sel.LabelSelector()
	if err != nil {
		return nil, fmt.Errorf("chaosmesh: selector: %w", err)
	}
	list, err := f.deps.Client.CoreV1().Pods(f.sel.Namespace).List(ctx, metav1.ListOptions{LabelSelector: ls.String()})
	if err != nil {
		return nil, fmt.Errorf("chaosmesh: list pods %s in %s: %w", ls, f.sel.Namespace, err)
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		// The fake clientset ignores label selectors: filter again.
		if ls.Matches(labelSet(p.Labels)) {
			out = append(out, p)
		}
	}
	return out, nil
}
