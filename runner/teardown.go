package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/internal/workload"
)

// teardown always runs: it stops the traffic and the engine, removes every
// fault that went in (also after a failed or interrupted run), puts the
// target back to its pre-drill template, replicas and Service selector,
// and waits for it to be available. It keeps going past errors and
// returns them all.
func (run *Run) teardown(ctx context.Context) error {
	var errs []error
	if run.stopTraf != nil {
		run.stopTraf()
		<-run.trafDone
	}
	if err := run.stopGuard(ctx); err != nil {
		errs = append(errs, fmt.Errorf("stopping the engine: %w", err))
	}
	for i := len(run.faults) - 1; i >= 0; i-- {
		f := run.faults[i]
		if !f.attempted || f.removed {
			continue
		}
		if err := run.remove(ctx, f, "teardown"); err != nil {
			errs = append(errs, err)
		}
	}
	if err := run.restoreTarget(ctx); err != nil {
		errs = append(errs, err)
	}
	if run.targets != nil {
		run.targets.Close()
	}
	run.conns.close()
	run.proofConns.close()
	return errors.Join(errs...)
}

// restoreTarget puts back what the drill or the engine changed on the
// target and waits until it is available.
func (run *Run) restoreTarget(ctx context.Context) error {
	snap := run.snapshot
	if snap == nil {
		return nil
	}
	t := run.drill.Spec.Target
	cs := run.r.client
	wc, err := workload.For(snap.kind, cs, run.r.dyn)
	if err != nil {
		return fmt.Errorf("restoring %s %s/%s: %w", snap.kind, t.Namespace, t.Name, err)
	}
	var changed bool
	if snap.kind == drills.TargetRollout {
		changed, err = restoreRollout(ctx, wc, t, snap)
	} else {
		changed, err = run.restoreDeployment(ctx, snap)
	}
	if err != nil {
		return fmt.Errorf("restoring %s %s/%s: %w", snap.kind, t.Namespace, t.Name, err)
	}
	if changed {
		run.event(drills.EventNote, run.r.now(), fmt.Sprintf("teardown put %s %s/%s back to its pre-drill template (revision %s's) and annotations", snap.kind, t.Namespace, t.Name, snap.revision), nil)
	}
	if snap.hasSvc {
		err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			svc, err := cs.CoreV1().Services(t.Namespace).Get(ctx, t.Service, metav1.GetOptions{})
			if err != nil {
				return err
			}
			if maps.Equal(svc.Spec.Selector, snap.selector) {
				return nil
			}
			svc.Spec.Selector = snap.selector
			_, err = cs.CoreV1().Services(t.Namespace).Update(ctx, svc, metav1.UpdateOptions{FieldManager: "firedrill-runner"})
			if err == nil {
				run.event(drills.EventNote, run.r.now(), fmt.Sprintf("teardown put Service %s/%s's selector back", t.Namespace, t.Service), nil)
			}
			return err
		})
		if err != nil {
			return fmt.Errorf("restoring Service %s/%s: %w", t.Namespace, t.Service, err)
		}
	}
	last := ""
	err = wait.PollUntilContextCancel(ctx, run.r.tick, true, func(ctx context.Context) (bool, error) {
		w, err := wc.Get(ctx, t.Namespace, t.Name)
		if err != nil {
			return false, nil
		}
		last = w.Status
		return w.Healthy, nil
	})
	if err != nil {
		if snap.kind == drills.TargetRollout && last != "" {
			err = fmt.Errorf("%s: %w", last, err)
		}
		return fmt.Errorf("%s %s/%s did not become available again after teardown: %w", strings.ToLower(string(snap.kind)), t.Namespace, t.Name, err)
	}
	return nil
}

// restoreDeployment puts the Deployment's template, replicas, paused flag,
// strategy and firedrill.dev/ annotations back as they were before the
// drill.
func (run *Run) restoreDeployment(ctx context.Context, snap *targetSnapshot) (bool, error) {
	t := run.drill.Spec.Target
	cs := run.r.client
	changed := false
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := cs.AppsV1().Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		same := equality.Semantic.DeepEqual(dep.Spec.Template, snap.template) &&
			equality.Semantic.DeepEqual(dep.Spec.Replicas, snap.replicas) && dep.Spec.Paused == snap.paused &&
			equality.Semantic.DeepEqual(dep.Spec.Strategy, snap.strategy) &&
			maps.Equal(marksOf(dep.Annotations), snap.marks)
		if same {
			return nil
		}
		dep.Spec.Template = *snap.template.DeepCopy()
		dep.Spec.Replicas = snap.replicas
		dep.Spec.Paused = snap.paused
		dep.Spec.Strategy = *snap.strategy.DeepCopy()
		dep.Annotations = withMarks(dep.Annotations, snap.marks)
		_, err = cs.AppsV1().Deployments(t.Namespace).Update(ctx, dep, metav1.UpdateOptions{FieldManager: "firedrill-runner"})
		changed = err == nil
		return err
	})
	return changed, err
}

// restoreRollout puts back only what a drill writes on a Rollout: the pod
// template (faults push images and env, the engine's revert copies an old
// revision's template back), spec.paused (the engine's hand-over to a
// human) and the firedrill.dev/ annotations (fault and rollback records).
// The strategy, replicas and everything else stay as the Rollout's owner
// left them.
func restoreRollout(ctx context.Context, wc workload.Interface, t drills.Target, snap *targetSnapshot) (bool, error) {
	return wc.Mutate(ctx, t.Namespace, t.Name, func(w *workload.Workload) bool {
		if equality.Semantic.DeepEqual(w.Template, snap.template) && w.Paused == snap.paused &&
			maps.Equal(marksOf(w.Annotations), snap.marks) {
			return false
		}
		w.Template = *snap.template.DeepCopy()
		w.Paused = snap.paused
		w.Annotations = withMarks(w.Annotations, snap.marks)
		return true
	})
}

// withMarks replaces the firedrill.dev/ annotations of ann by marks. Fault
// records and rollback records come back with a revert to a ReplicaSet
// that carried them (kubectl's undo copies its annotations): only the
// pre-drill ones stay.
func withMarks(ann, marks map[string]string) map[string]string {
	for k := range marksOf(ann) {
		delete(ann, k)
	}
	if len(marks) > 0 && ann == nil {
		ann = map[string]string{}
	}
	maps.Copy(ann, marks)
	return ann
}
