package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// written holds the values the drill itself (its faults and its engine)
// wrote on the target Deployment's fields that teardown may put back.
// Teardown reverts a field only while it still holds one of them: a value
// someone else set during the drill (an HPA's replicas, a pipeline's newer
// image) is left as found.
type written struct {
	mu         sync.Mutex
	templates  []corev1.PodTemplateSpec
	replicas   []*int32
	paused     []bool
	strategies []appsv1.DeploymentStrategy
}

// addDiff records the fields that changed between pre and post, the
// Deployment just before and just after one of the drill's writes (a
// fault's Inject).
func (w *written) addDiff(pre, post *appsv1.Deployment) {
	if pre == nil || post == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !equality.Semantic.DeepEqual(pre.Spec.Template, post.Spec.Template) {
		w.templates = append(w.templates, *post.Spec.Template.DeepCopy())
	}
	if !equality.Semantic.DeepEqual(pre.Spec.Replicas, post.Spec.Replicas) {
		w.replicas = append(w.replicas, post.Spec.Replicas)
	}
	if pre.Spec.Paused != post.Spec.Paused {
		w.paused = append(w.paused, post.Spec.Paused)
	}
	if !equality.Semantic.DeepEqual(pre.Spec.Strategy, post.Spec.Strategy) {
		w.strategies = append(w.strategies, *post.Spec.Strategy.DeepCopy())
	}
}

// addEngine records the fields the engine's strategies write on a
// Deployment (revert: the template; human: paused) as they are after one
// of its actions.
func (w *written) addEngine(dep *appsv1.Deployment) {
	if dep == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.templates = append(w.templates, *dep.Spec.Template.DeepCopy())
	w.paused = append(w.paused, dep.Spec.Paused)
}

// fieldFate is what teardown does with one field.
type fieldFate int

const (
	fieldUnchanged   fieldFate = iota // still as before the drill
	fieldRevert                       // holds the drill's value: put back
	fieldLeftAsFound                  // someone else changed it: left alone
)

func fateOf[T any](cur, before T, drill []T) fieldFate {
	if equality.Semantic.DeepEqual(cur, before) {
		return fieldUnchanged
	}
	for _, v := range drill {
		if equality.Semantic.DeepEqual(cur, v) {
			return fieldRevert
		}
	}
	return fieldLeftAsFound
}

// fates decides each field of dep against the pre-drill snapshot.
func (w *written) fates(dep *appsv1.Deployment, snap *targetSnapshot) (template, replicas, paused, strategy fieldFate) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fateOf(dep.Spec.Template, snap.template, w.templates),
		fateOf(dep.Spec.Replicas, snap.replicas, w.replicas),
		fateOf(dep.Spec.Paused, snap.paused, w.paused),
		fateOf(dep.Spec.Strategy, snap.strategy, w.strategies)
}

// targetDeployment reads the target Deployment, or nil.
func (run *Run) targetDeployment(ctx context.Context) *appsv1.Deployment {
	t := run.drill.Spec.Target
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	dep, err := run.r.client.AppsV1().Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
	if err != nil {
		run.r.log.Warn("reading the target to record the drill's changes", "err", err)
		return nil
	}
	return dep
}

func describeReplicas(p *int32) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
