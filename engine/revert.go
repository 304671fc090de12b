package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/firedrill/firedrill/drills"
)

// Revert rolls a Deployment back to its previous revision (or ToRevision)
// exactly as `kubectl rollout undo [--to-revision]` does: it copies the
// ReplicaSet's pod template and annotations back into the Deployment with
// one JSON patch (the logic of kubectl's polymorphichelpers
// DeploymentRollbacker). The same patch writes AnnotationRollbackOf, so the
// record of the revert exists if and only if the revert happened: a retry
// after a crash either finds it and does nothing, or redoes the whole
// revert; it never undoes twice, which would flip back to the bad version.
//
// With a Timeout it then waits, like `kubectl rollout status`, for the
// rollout back to complete (also when the revert was already done), and
// fails if it does not within the timeout.
//
// With a Surge the same patch also raises the Deployment's maxSurge, so the
// previous revision's pods start together rather than one at a time, and
// records the Deployment's own rolling-update settings in the rollback
// record; once the wait ends (completed or not, also on a retry after a
// crash) they are put back, unless someone changed the strategy since.
type Revert struct {
	client       kubernetes.Interface
	toRevision   drills.Revision
	timeout      time.Duration
	pollInterval time.Duration
	surge        *intstr.IntOrString
	// dyn reaches Argo Rollouts' Rollout objects (nil: no Rollout targets).
	dyn dynamic.Interface
}

// NewRevert builds the revert strategy; s may be nil (previous revision,
// no wait). A nil Timeout does not wait for the rollout.
func NewRevert(client kubernetes.Interface, s *drills.RevertSettings) *Revert {
	r := &Revert{client: client, pollInterval: time.Second}
	if s != nil {
		r.toRevision = s.ToRevision
		r.timeout = s.Timeout.Get(0)
		if s.Surge != "" {
			v := intstr.Parse(s.Surge)
			r.surge = &v
		}
	}
	return r
}

// Name implements Strategy.
func (*Revert) Name() drills.StrategyName { return drills.StrategyRevert }

// rollbackRecord is the value of AnnotationRollbackOf.
type rollbackRecord struct {
	FromRevision   int64  `json:"fromRevision"`
	FromReplicaSet string `json:"fromReplicaSet,omitempty"`
	ToRevision     int64  `json:"toRevision"`
	ToReplicaSet   string `json:"toReplicaSet"`
	Incident       string `json:"incident,omitempty"`
	// Surge is the maxSurge the revert set for the rollout back, and
	// RollingUpdate the Deployment's own settings it replaced (nil: none
	// were set).
	Surge         string                          `json:"surge,omitempty"`
	RollingUpdate *appsv1.RollingUpdateDeployment `json:"rollingUpdate,omitempty"`
}

// kubectlAnnotationsToSkip are kept from the Deployment and not copied from
// the ReplicaSet, as in kubectl.
var kubectlAnnotationsToSkip = map[string]bool{
	corev1.LastAppliedConfigAnnotation:       true,
	deploymentutil.RevisionAnnotation:        true,
	deploymentutil.RevisionHistoryAnnotation: true,
	deploymentutil.DesiredReplicasAnnotation: true,
	deploymentutil.MaxReplicasAnnotation:     true,
	appsv1.DeprecatedRollbackTo:              true,
}

// Act implements Strategy. A partial rollback decision is refused
// (ErrRefused): a Deployment has one template, so revert cannot move a
// share of it back; Escalation gives partial decisions to shrink.
func (r *Revert) Act(ctx context.Context, t Target, d Decision) (Outcome, error) {
	return logged(ctx, t, func() (Outcome, error) { return r.act(ctx, t, d) })
}

func (r *Revert) act(ctx context.Context, t Target, d Decision) (Outcome, error) {
	if err := refusePartial(drills.StrategyRevert, d, "a workload has one template"); err != nil {
		return Outcome{Strategy: drills.StrategyRevert}, err
	}
	if t.Kind == drills.TargetRollout {
		out, err := retryStale(func() (Outcome, error) { return r.revertRollout(ctx, t) })
		if err != nil || r.timeout <= 0 {
			return out, err
		}
		status, err := r.waitRollout(ctx, t)
		if err != nil {
			return out, fmt.Errorf("revert: %w", err)
		}
		out.Message += "; " + status
		return out, nil
	}
	out, err := retryStale(func() (Outcome, error) { return r.undo(ctx, t) })
	if err != nil || r.timeout <= 0 {
		return out, err
	}
	status, err := WaitRollout(ctx, r.client, t.Namespace, t.Deployment, r.timeout, r.pollInterval)
	// The surge goes back whether or not the rollout completed, and also
	// when the engine is stopping.
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	restored, rerr := r.restoreStrategy(rctx, t)
	cancel()
	if err != nil {
		return out, errors.Join(fmt.Errorf("revert: %w", err), rerr)
	}
	if rerr != nil {
		return out, rerr
	}
	out.Message += "; " + status
	if restored != "" {
		out.Message += "; " + restored
	}
	return out, nil
}

// retryStale runs a revert again, from a fresh read, when its patch was
// refused because the object changed since it was read: the patch's
// resourceVersion test fails (the API server answers 422 Invalid) or the
// write conflicts. A rolling Deployment's status changes every second, so
// this is the common case, not the exception.
func retryStale(do func() (Outcome, error)) (Outcome, error) {
	var out Outcome
	err := retry.OnError(retry.DefaultRetry, func(err error) bool {
		return apierrors.IsInvalid(err) || apierrors.IsConflict(err)
	}, func() error {
		var err error
		out, err = do()
		return err
	})
	return out, err
}

// restoreStrategy puts back the rolling-update settings the revert's surge
// replaced, as its rollback record has them. It leaves a strategy that no
// longer has the surge alone: someone changed it since.
func (r *Revert) restoreStrategy(ctx context.Context, t Target) (string, error) {
	deps := r.client.AppsV1().Deployments(t.Namespace)
	var msg string
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		msg = ""
		dep, err := deps.Get(ctx, t.Deployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		var rec rollbackRecord
		raw, ok := dep.Annotations[AnnotationRollbackOf]
		if !ok || json.Unmarshal([]byte(raw), &rec) != nil || rec.Surge == "" {
			return nil
		}
		ru := dep.Spec.Strategy.RollingUpdate
		if ru == nil || ru.MaxSurge == nil || ru.MaxSurge.String() != rec.Surge {
			return nil
		}
		if rec.RollingUpdate != nil && apiequality.Semantic.DeepEqual(ru, rec.RollingUpdate) {
			return nil
		}
		dep.Spec.Strategy.RollingUpdate = rec.RollingUpdate.DeepCopy()
		if _, err := deps.Update(ctx, dep, metav1.UpdateOptions{FieldManager: "firedrill-engine"}); err != nil {
			return err
		}
		msg = fmt.Sprintf("maxSurge back to %s", surgeString(rec.RollingUpdate))
		return nil
	})
	if err != nil {
		return "", fmt.Errorf("revert: put back the rolling-update settings of deployment %s/%s: %w", t.Namespace, t.Deployment, err)
	}
	return msg, nil
}

// surgeString renders a rolling update's maxSurge ("default" when unset).
func surgeString(ru *appsv1.RollingUpdateDeployment) string {
	if ru == nil || ru.MaxSurge == nil {
		return "default"
	}
	return ru.MaxSurge.String()
}

// undo is the revert itself, without waiting for the rollout.
func (r *Revert) undo(ctx context.Context, t Target) (Outcome, error) {
	out := Outcome{Strategy: drills.StrategyRevert}
	if r.toRevision < drills.RevisionPrevious {
		return out, fmt.Errorf("revert: unable to find specified revision %d in history: %w", int64(r.toRevision), ErrRefused)
	}
	deps := r.client.AppsV1().Deployments(t.Namespace)
	dep, err := deps.Get(ctx, t.Deployment, metav1.GetOptions{})
	if err != nil {
		return out, fmt.Errorf("revert: get deployment %s/%s: %w", t.Namespace, t.Deployment, err)
	}
	_, oldRSs, newRS, err := deploymentutil.GetAllReplicaSets(dep, r.client.AppsV1())
	if err != nil {
		return out, fmt.Errorf("revert: replica sets of deployment %s/%s: %w", t.Namespace, t.Deployment, err)
	}
	all := oldRSs
	if newRS != nil {
		all = append(all, newRS)
	}
	fromRev, _ := deploymentutil.Revision(dep)

	// Done before? The record is written by the same patch as the template.
	if done, ok := alreadyRolledBack(dep.Annotations, all, &dep.Spec.Template, appsv1.DefaultDeploymentUniqueLabelKey,
		fmt.Sprintf("deployment %s/%s", t.Namespace, t.Deployment)); ok {
		return done, nil
	}
	if dep.Spec.Paused {
		return out, fmt.Errorf("revert: deployment %s/%s is paused; a paused deployment cannot be rolled back, resume it first with 'kubectl rollout resume': %w",
			t.Namespace, t.Deployment, ErrRefused)
	}
	// toRevision lastKnownGood (the default): the last known good
	// revision, else the previous; previous: the previous.
	var target *appsv1.ReplicaSet
	if r.toRevision == drills.RevisionLastKnownGood {
		target = lastKnownGood(all, fromRev)
	}
	if target == nil {
		if target, err = previousReplicaSet(dep.Name, all, r.toRevision.Number(), deploymentRevision); err != nil {
			return out, fmt.Errorf("revert: deployment %s/%s: %w", t.Namespace, t.Deployment, err)
		}
	}
	toRev, _ := deploymentRevision(target)
	out.FromVersion, out.ToVersion = strconv.FormatInt(fromRev, 10), strconv.FormatInt(toRev, 10)
	if templatesEqualIgnoreHash(&target.Spec.Template, &dep.Spec.Template) {
		out.AlreadyDone = true
		out.Message = fmt.Sprintf("already done: skipped rollback (current template already matches revision %d)", toRev)
		return out, nil
	}

	tmpl := target.Spec.Template.DeepCopy()
	delete(tmpl.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	annotations := map[string]string{}
	for k := range kubectlAnnotationsToSkip {
		if v, ok := dep.Annotations[k]; ok {
			annotations[k] = v
		}
	}
	for k, v := range target.Annotations {
		// The known-good mark belongs to the ReplicaSet: on the Deployment
		// the controller would copy it to every new ReplicaSet.
		if !kubectlAnnotationsToSkip[k] && k != AnnotationKnownGood {
			annotations[k] = v
		}
	}
	rec := rollbackRecord{FromRevision: fromRev, ToRevision: toRev, ToReplicaSet: target.Name, Incident: t.IncidentID}
	if newRS != nil {
		rec.FromReplicaSet = newRS.Name
	}
	recJSON, err := json.Marshal(rec)
	if err != nil {
		return out, fmt.Errorf("revert: %w", err)
	}
	surging := r.surge != nil && dep.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType
	if surging {
		rec.Surge = r.surge.String()
		rec.RollingUpdate = dep.Spec.Strategy.RollingUpdate.DeepCopy()
		if recJSON, err = json.Marshal(rec); err != nil {
			return out, fmt.Errorf("revert: %w", err)
		}
	}
	annotations[AnnotationRollbackOf] = string(recJSON)

	ops := []map[string]any{}
	if dep.ResourceVersion != "" {
		// Optimistic concurrency: fail rather than patch a Deployment that
		// changed since it was read.
		ops = append(ops, map[string]any{"op": "test", "path": "/metadata/resourceVersion", "value": dep.ResourceVersion})
	}
	ops = append(ops,
		map[string]any{"op": "replace", "path": "/spec/template", "value": tmpl},
		map[string]any{"op": "replace", "path": "/metadata/annotations", "value": annotations},
	)
	if surging {
		ru := appsv1.RollingUpdateDeployment{MaxSurge: r.surge}
		if old := dep.Spec.Strategy.RollingUpdate; old != nil {
			ru.MaxUnavailable = old.MaxUnavailable
		}
		ops = append(ops,
			map[string]any{"op": "add", "path": "/spec/strategy/type", "value": appsv1.RollingUpdateDeploymentStrategyType},
			map[string]any{"op": "add", "path": "/spec/strategy/rollingUpdate", "value": ru})
	}
	patch, err := json.Marshal(ops)
	if err != nil {
		return out, fmt.Errorf("revert: %w", err)
	}
	if _, err := deps.Patch(ctx, dep.Name, types.JSONPatchType, patch, metav1.PatchOptions{}); err != nil {
		return out, fmt.Errorf("revert: restore revision %d of deployment %s/%s: %w", toRev, t.Namespace, t.Deployment, err)
	}
	out.Restored = target.Spec.Template.DeepCopy()
	out.Message = fmt.Sprintf("rolled back deployment %s/%s from revision %d to revision %d (replica set %s)",
		t.Namespace, t.Deployment, fromRev, toRev, target.Name)
	if surging {
		out.Message += fmt.Sprintf(" with maxSurge %s", rec.Surge)
	}
	return out, nil
}

// previousReplicaSet finds the ReplicaSet of toRevision, or of the
// previous revision when toRevision is 0, as kubectl and the Argo Rollouts
// plugin do; rev reads a ReplicaSet's revision.
func previousReplicaSet(name string, all []*appsv1.ReplicaSet, toRevision int64, rev func(metav1.Object) (int64, error)) (*appsv1.ReplicaSet, error) {
	var (
		latest, previous       *appsv1.ReplicaSet
		latestRev, previousRev = int64(-1), int64(-1)
	)
	for _, rs := range all {
		v, err := rev(rs)
		if err != nil {
			continue
		}
		if toRevision == 0 {
			if latestRev < v {
				previousRev, previous = latestRev, latest
				latestRev, latest = v, rs
			} else if previousRev < v {
				previousRev, previous = v, rs
			}
		} else if toRevision == v {
			return rs, nil
		}
	}
	if toRevision > 0 {
		return nil, fmt.Errorf("unable to find specified revision %d in history: %w", toRevision, ErrRefused)
	}
	if previous == nil {
		return nil, fmt.Errorf("no rollout history found for %q: %w", name, ErrRefused)
	}
	return previous, nil
}

// annotationRevision reads a revision annotation (0 if unset).
func annotationRevision(key string) func(metav1.Object) (int64, error) {
	return func(o metav1.Object) (int64, error) {
		v, ok := o.GetAnnotations()[key]
		if !ok {
			return 0, nil
		}
		return strconv.ParseInt(v, 10, 64)
	}
}

// deploymentRevision reads the deployment controller's revision annotation.
var deploymentRevision = annotationRevision(deploymentutil.RevisionAnnotation)

// templatesEqualIgnoreHash compares pod templates ignoring the
// pod-template-hash label, as the deployment controller and kubectl do.
func templatesEqualIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	return equalIgnoringLabel(a, b, appsv1.DefaultDeploymentUniqueLabelKey)
}

// equalIgnoringLabel compares pod templates without the hash label.
func equalIgnoringLabel(a, b *corev1.PodTemplateSpec, label string) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, label)
	delete(b.Labels, label)
	return apiequality.Semantic.DeepEqual(a, b)
}

// alreadyRolledBack reads the rollback record in a workload's annotations
// and reports the revert as done when the workload still runs the template
// of the ReplicaSet the record went back to (hashLabel ignored). what
// names the workload in the message, e.g. "deployment ns/name".
func alreadyRolledBack(annotations map[string]string, all []*appsv1.ReplicaSet, tmpl *corev1.PodTemplateSpec, hashLabel, what string) (Outcome, bool) {
	raw, ok := annotations[AnnotationRollbackOf]
	if !ok {
		return Outcome{}, false
	}
	var rec rollbackRecord
	if json.Unmarshal([]byte(raw), &rec) != nil {
		return Outcome{}, false
	}
	for _, rs := range all {
		if rs.Name == rec.ToReplicaSet && equalIgnoringLabel(&rs.Spec.Template, tmpl, hashLabel) {
			return Outcome{Strategy: drills.StrategyRevert, AlreadyDone: true,
				FromVersion: strconv.FormatInt(rec.FromRevision, 10), ToVersion: strconv.FormatInt(rec.ToRevision, 10),
				Message: fmt.Sprintf("already done: %s was rolled back from revision %d to revision %d (replica set %s)",
					what, rec.FromRevision, rec.ToRevision, rec.ToReplicaSet)}, true
		}
	}
	return Outcome{}, false
}
