package runner

import (
	"context"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/internal/workload"
)

// written holds the values the drill itself (its faults and its engine)
// wrote on the target's fields that teardown may put back. Teardown
// reverts a field only while it still holds one of them: a value someone
// else set during the drill (an HPA's replicas, a pipeline's newer image)
// is left as found.
type written struct {
	mu         sync.Mutex
	templates  []corev1.PodTemplateSpec
	replicas   []*int32
	paused     []bool
	strategies []appsv1.DeploymentStrategy
}

// targetFields are the fields of the target teardown may put back. A
// Rollout has no strategy here: teardown leaves a Rollout's strategy and
// replicas to its owner.
type targetFields struct {
	template corev1.PodTemplateSpec
	replicas *int32
	paused   bool
	strategy *appsv1.DeploymentStrategy // a Deployment's only
}

func deploymentFields(dep *appsv1.Deployment) *targetFields {
	return &targetFields{template: dep.Spec.Template, replicas: dep.Spec.Replicas, paused: dep.Spec.Paused, strategy: &dep.Spec.Strategy}
}

func workloadFields(w *workload.Workload) *targetFields {
	f := &targetFields{template: w.Template, replicas: w.Replicas, paused: w.Paused}
	if dep, ok := w.Object.(*appsv1.Deployment); ok {
		f.strategy = &dep.Spec.Strategy
	}
	return f
}

// addDiff records the fields that changed between pre and post, the
// target just before and just after one of the drill's writes (a fault's
// Inject or Remove).
func (w *written) addDiff(pre, post *targetFields) {
	if pre == nil || post == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if !equality.Semantic.DeepEqual(pre.template, post.template) {
		w.templates = append(w.templates, *post.template.DeepCopy())
	}
	if !equality.Semantic.DeepEqual(pre.replicas, post.replicas) {
		w.replicas = append(w.replicas, post.replicas)
	}
	if pre.paused != post.paused {
		w.paused = append(w.paused, post.paused)
	}
	if pre.strategy != nil && post.strategy != nil && !equality.Semantic.DeepEqual(*pre.strategy, *post.strategy) {
		w.strategies = append(w.strategies, *post.strategy.DeepCopy())
	}
}

// addEngine records the fields one of the engine's strategies writes on
// the target, as they are after its action: revert the template (and, on
// a Deployment, the strategy its surge changes), shrink the replicas,
// human the paused flag. Strategies that write nothing on the target
// (traffic-switch, restore) add nothing, so that a change someone else
// made meanwhile is not taken for the drill's.
func (w *written) addEngine(s drills.StrategyName, f *targetFields) {
	if f == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	switch s {
	case drills.StrategyRevert:
		w.templates = append(w.templates, *f.template.DeepCopy())
		if f.strategy != nil {
			w.strategies = append(w.strategies, *f.strategy.DeepCopy())
		}
	case drills.StrategyShrink:
		w.replicas = append(w.replicas, f.replicas)
	case drills.StrategyHuman:
		w.paused = append(w.paused, f.paused)
	case drills.StrategyTrafficSwitch, drills.StrategyRestore:
	default:
		// A strategy this list does not know yet: what the engine has
		// always written on a workload.
		w.templates = append(w.templates, *f.template.DeepCopy())
		w.paused = append(w.paused, f.paused)
	}
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

// fates is what teardown does with each field.
type fates struct {
	template, replicas, paused, strategy fieldFate
}

// fates decides each field of cur against the pre-drill snapshot; a
// target without a strategy (a Rollout) has it unchanged.
func (w *written) fates(cur *targetFields, snap *targetSnapshot) fates {
	w.mu.Lock()
	defer w.mu.Unlock()
	f := fates{
		template: fateOf(cur.template, snap.template, w.templates),
		replicas: fateOf(cur.replicas, snap.replicas, w.replicas),
		paused:   fateOf(cur.paused, snap.paused, w.paused),
	}
	if cur.strategy != nil {
		f.strategy = fateOf(*cur.strategy, snap.strategy, w.strategies)
	}
	return f
}

// targetNow reads the target's fields teardown may put back, or nil.
func (run *Run) targetNow(ctx context.Context) *targetFields {
	t := run.drill.Spec.Target
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	wc, err := workload.For(t.Kind, run.r.client, run.r.dyn)
	if err != nil {
		run.r.log.Warn("reading the target to record the drill's changes", "err", err)
		return nil
	}
	w, err := wc.Get(ctx, t.Namespace, t.Name)
	if err != nil {
		run.r.log.Warn("reading the target to record the drill's changes", "err", err)
		return nil
	}
	return workloadFields(w)
}

func describeReplicas(p *int32) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}
