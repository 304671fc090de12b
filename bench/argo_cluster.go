package bench

import (
	"context"
	"fmt"
	"strings"
	"time"

	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/firedrill/firedrill/deploy"
)

func (m *argoRun) apply(ctx context.Context, image string) error {
	objs, err := ArgoObjects(m.cfg.Setting, image)
	if err != nil {
		return err
	}
	ap, err := deploy.NewApplier(m.cfg.REST)
	if err != nil {
		return err
	}
	if err := ap.Apply(ctx, objs, deploy.Options{}); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// setImage points the Rollout's container at image.
func (m *argoRun) setImage(ctx context.Context, image string) error {
	patch := fmt.Appendf(nil, `[{"op":"replace","path":"/spec/template/spec/containers/0/image","value":%q}]`, image)
	if _, err := m.dyn.Resource(rolloutGVR).Namespace(ArgoNamespace).Patch(ctx, ArgoRollout, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("bench: set image %s: %w", image, err)
	}
	return nil
}

// restore puts the good image back and waits for a healthy Rollout; it
// runs on the way out and only logs.
func (m *argoRun) restore(image string) {
	ctx, cancel := context.WithTimeout(context.Background(), m.cfg.ReadyTimeout)
	defer cancel()
	if err := m.setImage(ctx, image); err != nil {
		m.log.Warn("restoring the good image", "err", err)
		return
	}
	if err := m.waitHealthy(ctx, image); err != nil {
		m.log.Warn("restoring the good image", "err", err)
	}
}

// waitHealthy waits until the Rollout runs image on all its replicas,
// fully promoted (phase Healthy, stable = current, not aborted).
func (m *argoRun) waitHealthy(ctx context.Context, image string) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, m.cfg.ReadyTimeout, true, func(ctx context.Context) (bool, error) {
		ro, err := m.dyn.Resource(rolloutGVR).Namespace(ArgoNamespace).Get(ctx, ArgoRollout, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		ok, why := rolloutHealthy(ro, image)
		last = why
		return ok, nil
	})
	if err != nil {
		return fmt.Errorf("bench: Rollout %s/%s not healthy on %s: %s: %w", ArgoNamespace, ArgoRollout, image, last, err)
	}
	return nil
}

// rolloutHealthy reports whether ro is fully rolled out on image, and why
// not.
func rolloutHealthy(ro *unstructured.Unstructured, image string) (bool, string) {
	ctrs, _, _ := unstructured.NestedSlice(ro.Object, "spec", "template", "spec", "containers")
	if len(ctrs) == 0 || ctrs[0].(map[string]any)["image"] != image {
		return false, "spec does not run " + image
	}
	replicas, _, _ := unstructured.NestedInt64(ro.Object, "spec", "replicas")
	gen := ro.GetGeneration()
	observed, _, _ := unstructured.NestedString(ro.Object, "status", "observedGeneration")
	phase, _, _ := unstructured.NestedString(ro.Object, "status", "phase")
	abort, _, _ := unstructured.NestedBool(ro.Object, "status", "abort")
	stable, _, _ := unstructured.NestedString(ro.Object, "status", "stableRS")
	current, _, _ := unstructured.NestedString(ro.Object, "status", "currentPodHash")
	updated, _, _ := unstructured.NestedInt64(ro.Object, "status", "updatedReplicas")
	available, _, _ := unstructured.NestedInt64(ro.Object, "status", "availableReplicas")
	total, _, _ := unstructured.NestedInt64(ro.Object, "status", "replicas")
	why := fmt.Sprintf("phase %q, generation %d observed %q, abort %v, stable %q current %q, updated %d available %d total %d of %d",
		phase, gen, observed, abort, stable, current, updated, available, total, replicas)
	ok := phase == "Healthy" && observed == fmt.Sprint(gen) && !abort && stable != "" && stable == current &&
		updated == replicas && available == replicas && total == replicas
	return ok, why
}

// readTemplate records the analysis settings the cluster holds.
func (m *argoRun) readTemplate(ctx context.Context, res *PeerResult) error {
	t, err := m.dyn.Resource(analysisTemplateGVR).Namespace(ArgoNamespace).Get(ctx, res.Template, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("bench: AnalysisTemplate %s: %w", res.Template, err)
	}
	metrics, _, _ := unstructured.NestedSlice(t.Object, "spec", "metrics")
	if len(metrics) != 1 {
		return fmt.Errorf("bench: AnalysisTemplate %s: want one metric, got %d", res.Template, len(metrics))
	}
	mt := metrics[0].(map[string]any)
	res.Interval, _ = mt["interval"].(string)
	res.FailureLimit, _ = mt["failureLimit"].(int64)
	return nil
}

// stableHash is the stable ReplicaSet's pod-template hash.
func (m *argoRun) stableHash(ctx context.Context) (string, error) {
	ro, err := m.dyn.Resource(rolloutGVR).Namespace(ArgoNamespace).Get(ctx, ArgoRollout, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("bench: %w", err)
	}
	h, _, _ := unstructured.NestedString(ro.Object, "status", "stableRS")
	if h == "" {
		return "", fmt.Errorf("bench: Rollout %s has no stable ReplicaSet", ArgoRollout)
	}
	return h, nil
}

// analysisRuns lists the names of the Rollout's AnalysisRuns.
func (m *argoRun) analysisRuns(ctx context.Context) (map[string]bool, error) {
	list, err := m.dyn.Resource(analysisRunGVR).Namespace(ArgoNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("bench: list AnalysisRuns: %w", err)
	}
	out := map[string]bool{}
	for _, r := range list.Items {
		out[r.GetName()] = true
	}
	return out, nil
}

// newRun returns the Rollout's AnalysisRun that did not exist before the
// push (nil while there is none).
func (m *argoRun) newRun(ctx context.Context, before map[string]bool) (*unstructured.Unstructured, error) {
	list, err := m.dyn.Resource(analysisRunGVR).Namespace(ArgoNamespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list AnalysisRuns: %w", err)
	}
	for i := range list.Items {
		r := &list.Items[i]
		if before[r.GetName()] {
			continue
		}
		for _, o := range r.GetOwnerReferences() {
			if o.Kind == "Rollout" && o.Name == ArgoRollout {
				return r, nil
			}
		}
	}
	return nil, nil
}

// readyEndpoints counts the Service's ready endpoints on stable pods and on
// other (canary) pods. Argo names a pod <rollout>-<pod-template-hash>-<suffix>.
func (m *argoRun) readyEndpoints(ctx context.Context, stableHash string) (stable, canary int, err error) {
	list, err := m.cs.DiscoveryV1().EndpointSlices(ArgoNamespace).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + ArgoService})
	if err != nil {
		return 0, 0, fmt.Errorf("list EndpointSlices: %w", err)
	}
	prefix := ArgoRollout + "-" + stableHash + "-"
	for _, s := range list.Items {
		for _, e := range s.Endpoints {
			if e.Conditions.Ready != nil && !*e.Conditions.Ready {
				continue
			}
			if e.TargetRef != nil && strings.HasPrefix(e.TargetRef.Name, prefix) {
				stable++
			} else {
				canary++
			}
		}
	}
	return stable, canary, nil
}

// canaryReplicas sums the replicas (desired and current) of the Rollout's
// ReplicaSets other than the stable one.
func (m *argoRun) canaryReplicas(ctx context.Context, stableHash string) (int32, error) {
	list, err := m.cs.AppsV1().ReplicaSets(ArgoNamespace).List(ctx, metav1.ListOptions{LabelSelector: "app=" + ArgoRollout})
	if err != nil {
		return 0, err
	}
	var n int32
	for _, rs := range list.Items {
		if rs.Labels["rollouts-pod-template-hash"] == stableHash {
			continue
		}
		if rs.Spec.Replicas != nil {
			n += *rs.Spec.Replicas
		}
		n += rs.Status.Replicas
	}
	return n, nil
}
