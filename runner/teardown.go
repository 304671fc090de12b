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
	"github.com/firedrill/firedrill/internal/workload"
)

// teardown always runs: it stops the traffic and the engine, removes every
// fault that went in (also after a failed or interrupted run), puts the
// fields of the target the drill changed back to their pre-drill values
// (only those that still hold the drill's value: what others changed
// during the drill is left as found and reported), puts the Service
// selector back, and waits for the target to be available. It keeps going
// past errors and returns them all.
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
// target, field by field (a Deployment's template, replicas, paused flag
// and strategy; a Rollout's template and paused flag), only where the
// field still holds a value the drill wrote, and waits until it is
// available. A field someone else changed during the drill is left as
// found and named in an event.
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
	var (
		changed bool
		left    []string
	)
	if snap.kind == drills.TargetRollout {
		changed, left, err = run.restoreRollout(ctx, wc, snap)
	} else {
		changed, left, err = run.restoreDeployment(ctx, snap)
	}
	if err != nil {
		return fmt.Errorf("restoring %s %s/%s: %w", snap.kind, t.Namespace, t.Name, err)
	}
	if changed {
		run.event(drills.EventNote, run.r.now(), fmt.Sprintf("teardown put back what the drill changed on %s %s/%s (revision %s's values) and its annotations", snap.kind, t.Namespace, t.Name, snap.revision), nil)
	}
	if len(left) > 0 {
		run.event(drills.EventNote, run.r.now(), fmt.Sprintf("teardown left %s %s/%s as found: %s", snap.kind, t.Namespace, t.Name, strings.Join(left, "; ")),
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

// restoreDeployment puts the Deployment's template, replicas, paused flag
// and strategy back as they were before the drill where they still hold a
// value the drill wrote (see written), and its firedrill.dev/ annotations.
// It returns what it left as found.
func (run *Run) restoreDeployment(ctx context.Context, snap *targetSnapshot) (changed bool, left []string, err error) {
	t := run.drill.Spec.Target
	cs := run.r.client
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := cs.AppsV1().Deployments(t.Namespace).Get(ctx, t.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		left = nil
		f := run.written.fates(deploymentFields(dep), snap)
		update := !maps.Equal(marksOf(dep.Annotations), snap.marks)
		switch f.template {
		case fieldRevert:
			dep.Spec.Template = *snap.template.DeepCopy()
			update = true
		case fieldLeftAsFound:
			left = append(left, leftTemplate)
		}
		switch f.replicas {
		case fieldRevert:
			dep.Spec.Replicas = snap.replicas
			update = true
		case fieldLeftAsFound:
			left = append(left, fmt.Sprintf("replicas %s (%s before the drill)", describeReplicas(dep.Spec.Replicas), describeReplicas(snap.replicas)))
		}
		switch f.paused {
		case fieldRevert:
			dep.Spec.Paused = snap.paused
			update = true
		case fieldLeftAsFound:
			left = append(left, fmt.Sprintf("paused %t (%t before the drill)", dep.Spec.Paused, snap.paused))
		}
		switch f.strategy {
		case fieldRevert:
			dep.Spec.Strategy = *snap.strategy.DeepCopy()
			update = true
		case fieldLeftAsFound:
			left = append(left, "the rollout strategy (changed during the drill by someone else)")
		}
		if !update {
			return nil
		}
		dep.Annotations = withMarks(dep.Annotations, snap.marks)
		_, err = cs.AppsV1().Deployments(t.Namespace).Update(ctx, dep, metav1.UpdateOptions{FieldManager: "firedrill-runner"})
		changed = err == nil
		return err
	})
	return changed, left, err
}

// leftTemplate names a pod template teardown left as found.
const leftTemplate = "the pod template (changed during the drill by someone else)"

// restoreRollout puts back only what a drill writes on a Rollout: the pod
// template (faults push images and env, the engine's revert copies an old
// revision's template back), spec.paused (the engine's hand-over to a
// human), each only where it still holds a value the drill wrote, and the
// firedrill.dev/ annotations (fault and rollback records). The strategy,
// replicas and everything else stay as the Rollout's owner left them. It
// returns what it left as found.
func (run *Run) restoreRollout(ctx context.Context, wc workload.Interface, snap *targetSnapshot) (changed bool, left []string, err error) {
	t := run.drill.Spec.Target
	changed, err = wc.Mutate(ctx, t.Namespace, t.Name, func(w *workload.Workload) bool {
		left = nil
		f := run.written.fates(workloadFields(w), snap)
		update := !maps.Equal(marksOf(w.Annotations), snap.marks)
		switch f.template {
		case fieldRevert:
			w.Template = *snap.template.DeepCopy()
			update = true
		case fieldLeftAsFound:
			left = append(left, leftTemplate)
		}
		switch f.paused {
		case fieldRevert:
			w.Paused = snap.paused
			update = true
		case fieldLeftAsFound:
			left = append(left, fmt.Sprintf("paused %t (%t before the drill)", w.Paused, snap.paused))
		}
		if !update {
			return false
		}
		w.Annotations = withMarks(w.Annotations, snap.marks)
		return true
	})
	return changed, left, err
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
