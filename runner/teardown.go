package runner

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/util/retry"

	"github.com/firedrill/firedrill/drills"
)

// teardown always runs: it stops the traffic and the engine, removes every
// fault that went in (also after a failed or interrupted run), puts the
// fields of the target the drill changed back to their pre-drill values
// (only those that still hold the drill's value: what others changed
// during the drill is left as found and reported), puts the Service
// selector back, and waits for the target to be available. It keeps going past errors and
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
// target, field by field (template, replicas, paused, strategy), only
// where the field still holds a value the drill wrote, and waits until it
// is available. A field someone else changed during the drill is left
// as found and named in an event.
func (run *Run) restoreTarget(ctx context.Context) error {
	snap := run.snapshot
	if snap == nil {
		return nil
	}
	t := run.drill.Spec.Target
	cs := run.r.client
	changed := false
	var left []string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := cs.AppsV1().Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		left = nil
		tmpl, repl, paused, strat := run.written.fates(dep, snap)
		update := !maps.Equal(marksOf(dep.Annotations), snap.marks)
		if tmpl == fieldRevert {
			dep.Spec.Template = *snap.template.DeepCopy()
			update = true
		} else if tmpl == fieldLeftAsFound {
			left = append(left, "the pod template (changed during the drill by someone else)")
		}
		if repl == fieldRevert {
			dep.Spec.Replicas = snap.replicas
			update = true
		} else if repl == fieldLeftAsFound {
			left = append(left, fmt.Sprintf("replicas %s (%s before the drill)", describeReplicas(dep.Spec.Replicas), describeReplicas(snap.replicas)))
		}
		if paused == fieldRevert {
			dep.Spec.Paused = snap.paused
			update = true
		} else if paused == fieldLeftAsFound {
			left = append(left, fmt.Sprintf("paused %t (%t before the drill)", dep.Spec.Paused, snap.paused))
		}
		if strat == fieldRevert {
			dep.Spec.Strategy = *snap.strategy.DeepCopy()
			update = true
		} else if strat == fieldLeftAsFound {
			left = append(left, "the rollout strategy (changed during the drill by someone else)")
		}
		if !update {
			return nil
		}
		// Fault records and rollback records come back with a revert to a
		// ReplicaSet that carried them (kubectl's undo copies its
		// annotations): only the pre-drill ones stay.
		for k := range marksOf(dep.Annotations) {
			delete(dep.Annotations, k)
		}
		if len(snap.marks) > 0 && dep.Annotations == nil {
			dep.Annotations = map[string]string{}
		}
		maps.Copy(dep.Annotations, snap.marks)
		_, err = cs.AppsV1().Deployments(t.Namespace).Update(ctx, dep, metav1.UpdateOptions{FieldManager: "firedrill-runner"})
		changed = err == nil
		return err
	})
	if err != nil {
		return fmt.Errorf("restoring Deployment %s/%s: %w", t.Namespace, t.Name, err)
	}
	if changed {
		run.event(drills.EventNote, run.r.now(), fmt.Sprintf("teardown put back what the drill changed on Deployment %s/%s (revision %s's values) and its annotations", t.Namespace, t.Name, snap.revision), nil)
	}
	if len(left) > 0 {
		run.event(drills.EventNote, run.r.now(), fmt.Sprintf("teardown left Deployment %s/%s as found: %s", t.Namespace, t.Name, strings.Join(left, "; ")),
			map[string]string{"leftAsFound": strings.Join(left, "; ")})
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
	err = wait.PollUntilContextCancel(ctx, run.r.tick, true, func(ctx context.Context) (bool, error) {
		dep, err := cs.AppsV1().Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		return available(dep), nil
	})
	if err != nil {
		return fmt.Errorf("deployment %s/%s did not become available again after teardown: %w", t.Namespace, t.Name, err)
	}
	return nil
}
