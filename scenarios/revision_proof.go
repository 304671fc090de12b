package scenarios

import (
	"context"
	"fmt"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
)

// notReadyReasons are the container waiting reasons that name why a pod
// never becomes ready.
var notReadyReasons = map[string]bool{
	"ImagePullBackOff": true, "ErrImagePull": true, "ErrImageNeverPull": true, "InvalidImageName": true,
	"CrashLoopBackOff": true, "CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// revisionProof follows the pods of a new revision (the Deployment's
// ReplicaSets whose template matches) across Status calls and records
// what each did while it existed: whether it became ready, why not, and how
// many of the drill's requests it answered. A guard may revert the
// revision within seconds, so what was seen is kept after its pods are
// gone: the proof is sticky.
type revisionProof struct {
	// since is when the revision was pushed.
	since time.Time
	pods  map[types.UID]*revPod
	order []types.UID
}

// revPod is what one pod of the revision did.
type revPod struct {
	name, rs, ip string
	uid          types.UID
	ready        bool      // became ready at least once
	reason       string    // why it is not ready, first named
	gone         time.Time // first seen gone
	counts       EndpointCounts
}

func newRevisionProof(since time.Time) *revisionProof {
	return &revisionProof{since: since, pods: map[types.UID]*revPod{}}
}

// observe lists the revision's pods and updates the records.
func (r *revisionProof) observe(ctx context.Context, deps Deps, dep *appsv1.Deployment, match func(*corev1.PodTemplateSpec) bool) error {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return err
	}
	rss, err := deps.Client.AppsV1().ReplicaSets(dep.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return err
	}
	now := deps.Now()
	seen := map[types.UID]bool{}
	for _, rs := range rss.Items {
		if !metav1.IsControlledBy(&rs, dep) || !match(&rs.Spec.Template) {
			continue
		}
		hash := rs.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		pods, err := deps.Client.CoreV1().Pods(dep.Namespace).List(ctx, metav1.ListOptions{LabelSelector: appsv1.DefaultDeploymentUniqueLabelKey + "=" + hash})
		if err != nil {
			return err
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] != hash || !sel.Matches(labels.Set(p.Labels)) {
				continue
			}
			seen[p.UID] = true
			rp := r.pods[p.UID]
			if rp == nil {
				rp = &revPod{name: p.Name, rs: rs.Name, uid: p.UID}
				r.pods[p.UID] = rp
				r.order = append(r.order, p.UID)
			}
			if p.Status.PodIP != "" {
				rp.ip = p.Status.PodIP
			}
			if podReady(p) {
				rp.ready = true
				continue
			}
			if rp.reason == "" {
				rp.reason = notReadyReason(p)
			}
			if rp.reason == "" && p.Status.Phase == corev1.PodRunning {
				if rp.reason, err = readinessFailure(ctx, deps, p); err != nil {
					return err
				}
			}
		}
	}
	for _, uid := range r.order {
		if rp := r.pods[uid]; !seen[uid] && rp.gone.IsZero() {
			rp.gone = now
		}
	}
	if deps.Traffic == nil {
		return nil
	}
	for _, uid := range r.order {
		rp := r.pods[uid]
		if rp.ip == "" {
			continue
		}
		// Once a pod is gone its IP may be reused: count only what was
		// scheduled while it existed.
		c := deps.Traffic.Endpoint(rp.ip, r.since, rp.gone)
		if c.Sent >= rp.counts.Sent {
			rp.counts = c
		}
	}
	return nil
}

// notReadyReason names why p cannot become ready from its status alone: a
// container stuck waiting (image pull, crash loop, bad config), a
// container that exited with an error, or a failed pod.
func notReadyReason(p *corev1.Pod) string {
	if p.Status.Phase == corev1.PodFailed {
		return strings.TrimSpace(fmt.Sprintf("pod failed: %s %s", p.Status.Reason, p.Status.Message))
	}
	for _, cs := range append(append([]corev1.ContainerStatus{}, p.Status.InitContainerStatuses...), p.Status.ContainerStatuses...) {
		if w := cs.State.Waiting; w != nil && notReadyReasons[w.Reason] {
			s := fmt.Sprintf("container %s %s", cs.Name, w.Reason)
			if w.Message != "" {
				s += " (" + w.Message + ")"
			}
			return s
		}
		if t := cs.State.Terminated; t != nil && t.ExitCode != 0 {
			return fmt.Sprintf("container %s exited with code %d (%s)", cs.Name, t.ExitCode, t.Reason)
		}
		if t := cs.LastTerminationState.Terminated; t != nil && t.ExitCode != 0 && cs.RestartCount > 0 {
			return fmt.Sprintf("container %s restarted %d times, last exit code %d (%s)", cs.Name, cs.RestartCount, t.ExitCode, t.Reason)
		}
	}
	return ""
}

// readinessFailure is the message of the pod's latest failed readiness
// probe, from its Unhealthy events ("" if none).
func readinessFailure(ctx context.Context, deps Deps, p *corev1.Pod) (string, error) {
	evs, err := deps.Client.CoreV1().Events(p.Namespace).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.uid=" + string(p.UID)})
	if err != nil {
		return "", fmt.Errorf("events of pod %s: %w", p.Name, err)
	}
	msg := ""
	var last time.Time
	for _, e := range evs.Items {
		if e.InvolvedObject.UID != p.UID || e.Reason != "Unhealthy" || !strings.HasPrefix(e.Message, "Readiness probe failed") {
			continue
		}
		at := e.LastTimestamp.Time
		if at.IsZero() {
			at = e.EventTime.Time
		}
		if msg == "" || at.After(last) {
			msg, last = e.Message, at
		}
	}
	return strings.TrimSpace(msg), nil
}

// status is the proof: the revision's pods answered the drill's requests,
// or never became ready for a named reason (or, for a drill without
// traffic, became ready and so took the Service's traffic). Pods that
// were merely created prove nothing. Every pod is listed with how many
// requests it answered.
func (r *revisionProof) status(deps Deps, what string) Status {
	st := Status{Injected: true}
	served, failed, ready := 0, 0, 0
	var sum EndpointCounts
	for _, uid := range r.order {
		rp := r.pods[uid]
		line := fmt.Sprintf("pod %s of ReplicaSet %s", rp.name, rp.rs)
		if rp.ip != "" {
			line += " (" + rp.ip + ")"
		}
		if deps.Traffic != nil {
			line += ": answered " + rp.counts.String()
			c := rp.counts
			sum.Sent, sum.Pending, sum.Succeeded = sum.Sent+c.Sent, sum.Pending+c.Pending, sum.Succeeded+c.Succeeded
			sum.Failed, sum.TimedOut, sum.Transport = sum.Failed+c.Failed, sum.TimedOut+c.TimedOut, sum.Transport+c.Transport
		}
		switch {
		case rp.ready:
			line += "; became ready"
			ready++
		case rp.reason != "":
			line += "; never ready: " + rp.reason
			failed++
		default:
			line += "; not ready yet"
		}
		if !rp.gone.IsZero() {
			line += "; gone since " + rp.gone.UTC().Format(time.RFC3339)
		}
		if rp.counts.Finished() > 0 {
			served++
		}
		st.Evidence = append(st.Evidence, line)
	}
	n := len(r.order)
	switch {
	case served > 0:
		st.Effective = true
		st.Message = fmt.Sprintf("%s: %d of %d pods answered the drill's requests (%s)", what, served, n, sum)
	case failed > 0:
		st.Effective = true
		st.Message = fmt.Sprintf("%s: %d of %d pods never became ready with a named reason", what, failed, n)
	case deps.Traffic == nil && ready > 0:
		st.Effective = true
		st.Message = fmt.Sprintf("%s: %d of %d pods became ready and so took the Service's traffic (the drill sends none to count)", what, ready, n)
	case n == 0:
		st.Message = what + ": no pod of the new revision yet"
	default:
		st.Message = fmt.Sprintf("%s: %d pods created, none answered a request nor failed with a named reason yet", what, n)
	}
	if len(st.Evidence) > 0 {
		st.Message += ": " + strings.Join(st.Evidence, "; ")
	}
	return st
}
