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

// outOfService records which of the named pods (as they were at Inject)
// are out of the target Service's ready endpoints now, and returns how
// many were ever seen out; has is false when the target names no Service.
func (f *fault) outOfService(ctx context.Context, names []string, out *scenarios.Status) (n int, has bool, err error) {
	if f.target.Service == "" {
		return 0, false, nil
	}
	ready, err := scenarios.ReadyEndpointIPs(ctx, f.deps.Client, f.sel.Namespace, f.target.Service)
	if err != nil {
		return 0, true, fmt.Errorf("chaosmesh: %w", err)
	}
	if f.outSeen == nil {
		f.outSeen = map[string]bool{}
	}
	for _, name := range names {
		ip := f.before[name].Status.PodIP
		if ip != "" && !ready[ip] {
			f.outSeen[name] = true
		}
		if f.outSeen[name] {
			n++
		}
		out.Evidence = append(out.Evidence, fmt.Sprintf("pod %s (%s) seen out of the ready endpoints of Service %s: %v", name, ip, f.target.Service, f.outSeen[name]))
	}
	return n, true, nil
}

// podKillEffect: no killed pod's UID exists any more, and the killed pods
// left the target Service's ready endpoints or as many Running pods as
// before match the selector again (the same proof as the native
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
	var names []string
	for uid, name := range killed {
		out.Evidence = append(out.Evidence, fmt.Sprintf("killed pod %s had uid %s", name, uid))
		names = append(names, name)
	}
	nOut, hasSvc, err := f.outOfService(ctx, names, out)
	if err != nil {
		return false, "", err
	}
	msg := fmt.Sprintf("%d of %d killed pods gone", len(killed)-alive, len(killed))
	if hasSvc {
		msg += fmt.Sprintf("; %d of %d out of the ready endpoints of Service %s", nOut, len(killed), f.target.Service)
	}
	msg += fmt.Sprintf("; %d of %d pods running again", running, f.candidates)
	replaced := running >= f.candidates
	return len(killed) > 0 && alive == 0 && (replaced || (hasSvc && nOut == len(killed))), msg, nil
}

// podFailureEffect: every failed pod (same UID) is not Ready.
func (f *fault) podFailureEffect(ctx context.Context, st *v1alpha1.ChaosStatus, out *scenarios.Status) (bool, string, error) {
	failed, notReady := 0, 0
	var names []string
	for _, r := range st.Experiment.Records {
		ns, name, ok := recordPod(r.Id)
		if !ok {
			continue
		}
		failed++
		names = append(names, name)
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
	nOut, hasSvc, err := f.outOfService(ctx, names, out)
	if err != nil {
		return false, "", err
	}
	msg := fmt.Sprintf("%d of %d failed pods not Ready", notReady, failed)
	if hasSvc {
		msg += fmt.Sprintf("; %d of %d out of the ready endpoints of Service %s", nOut, failed, f.target.Service)
	}
	return failed > 0 && notReady == failed && (!hasSvc || nOut == failed), msg, nil
}

// containerKillEffect: every killed container restarted (its restart
// count grew) or its pod was replaced.
func (f *fault) containerKillEffect(ctx context.Context, st *v1alpha1.ChaosStatus, out *scenarios.Status) (bool, string, error) {
	killed, restarted := 0, 0
	replaced := map[string]bool{}
	var names []string
	for _, r := range st.Experiment.Records {
		parts := strings.Split(r.Id, "/")
		if len(parts) != 3 {
			continue
		}
		ns, name, ctr := parts[0], parts[1], parts[2]
		killed++
		names = append(names, name)
		before := restarts(f.before[name], ctr)
		p, err := f.deps.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) || (err == nil && p.UID != f.before[name].UID) {
			restarted++
			replaced[name] = true
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
	nOut, hasSvc, err := f.outOfService(ctx, names, out)
	if err != nil {
		return false, "", err
	}
	msg := fmt.Sprintf("%d of %d killed containers restarted", restarted, killed)
	if hasSvc {
		msg += fmt.Sprintf("; %d of %d pods seen out of the ready endpoints of Service %s", nOut, killed, f.target.Service)
	}
	// A restarted container whose pod never left the endpoints was back
	// before anyone noticed; a replaced pod left them for good.
	gone := 0
	for _, name := range names {
		if f.outSeen[name] || replaced[name] {
			gone++
		}
	}
	return killed > 0 && restarted == killed && (!hasSvc || gone == killed), msg, nil
}

// partitionEffect: the drill's requests to every partitioned pod fail
// (scenarios.PartitionEffect). Proven pods stay proven.
func (f *fault) partitionEffect(st *v1alpha1.ChaosStatus, out *scenarios.Status) (bool, string) {
	if f.provenPods == nil {
		f.provenPods = map[string]string{}
	}
	n, proven := 0, 0
	var why []string
	for _, r := range st.Experiment.Records {
		_, name, ok := recordPod(r.Id)
		if !ok {
			continue
		}
		n++
		if msg, ok := f.provenPods[name]; ok {
			proven++
			out.Evidence = append(out.Evidence, msg)
			continue
		}
		ok, msg := scenarios.PartitionEffect(f.deps.Traffic, name, f.before[name].Status.PodIP, f.at)
		out.Evidence = append(out.Evidence, msg)
		if ok {
			f.provenPods[name] = msg
			proven++
		} else {
			why = append(why, msg)
		}
	}
	msg := fmt.Sprintf("partition measured on %d of %d pods", proven, n)
	if len(why) > 0 {
		msg += ": " + strings.Join(why, "; ")
	}
	return n > 0 && proven == n, msg
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
