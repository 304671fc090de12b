package engine

import (
	"context"
	"fmt"
	"sort"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/firedrill/firedrill/drills"
)

// Watch follows the target, a Deployment or an Argo Rollout, its
// ReplicaSets and its pods with shared informers (watches, not polling) in
// the target's namespace. A Rollout is read through the dynamic client.
type Watch struct {
	kind            drills.TargetKind
	namespace, name string
	client          kubernetes.Interface
	dyn             dynamic.Interface
	factory         informers.SharedInformerFactory
	deployments     appslisters.DeploymentLister
	replicaSets     appslisters.ReplicaSetLister
	pods            corelisters.PodLister
	// dynFactory and rollouts: a Rollout target only.
	dynFactory dynamicinformer.DynamicSharedInformerFactory
	rollouts   cache.GenericLister
}

// NewWatch builds the watch of Deployment namespace/name; Start runs it.
func NewWatch(client kubernetes.Interface, namespace, name string) *Watch {
	return newWatch(drills.TargetDeployment, client, nil, namespace, name)
}

// NewRolloutWatch builds the watch of Argo Rollout namespace/name: the
// Rollout through dyn, its ReplicaSets and pods through client.
func NewRolloutWatch(client kubernetes.Interface, dyn dynamic.Interface, namespace, name string) *Watch {
	return newWatch(drills.TargetRollout, client, dyn, namespace, name)
}

func newWatch(kind drills.TargetKind, client kubernetes.Interface, dyn dynamic.Interface, namespace, name string) *Watch {
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace))
	w := &Watch{
		kind: kind, namespace: namespace, name: name, client: client, dyn: dyn, factory: f,
		replicaSets: f.Apps().V1().ReplicaSets().Lister(),
		pods:        f.Core().V1().Pods().Lister(),
	}
	if kind == drills.TargetRollout {
		w.dynFactory = dynamicinformer.NewFilteredDynamicSharedInformerFactory(dyn, 0, namespace, nil)
		w.rollouts = w.dynFactory.ForResource(rolloutGVR).Lister()
	} else {
		w.deployments = f.Apps().V1().Deployments().Lister()
	}
	return w
}

// renew is a watch of the same target with fresh informers.
func (w *Watch) renew() *Watch { return newWatch(w.kind, w.client, w.dyn, w.namespace, w.name) }

// Start starts the informers and waits for their caches to sync; they
// stop when ctx ends. For a Rollout it first checks that the API serves
// Rollouts, so that a cluster without the Argo Rollouts CRDs fails at once
// instead of never syncing.
func (w *Watch) Start(ctx context.Context) error {
	if w.dynFactory != nil {
		lctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		_, err := w.dyn.Resource(rolloutGVR).Namespace(w.namespace).List(lctx, metav1.ListOptions{Limit: 1})
		cancel()
		if err != nil {
			return fmt.Errorf("watch %s/%s: list Rollouts (are the Argo Rollouts CRDs installed?): %w", w.namespace, w.name, err)
		}
		w.dynFactory.Start(ctx.Done())
		for gvr, ok := range w.dynFactory.WaitForCacheSync(ctx.Done()) {
			if !ok {
				return fmt.Errorf("watch %s/%s: cache of %v did not sync: %w", w.namespace, w.name, gvr, context.Cause(ctx))
			}
		}
	}
	w.factory.Start(ctx.Done())
	for typ, ok := range w.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("watch %s/%s: cache of %v did not sync: %w", w.namespace, w.name, typ, context.Cause(ctx))
		}
	}
	return nil
}

// Shutdown waits for the informers to stop after their context ended.
func (w *Watch) Shutdown() {
	w.factory.Shutdown()
	if w.dynFactory != nil {
		w.dynFactory.Shutdown()
	}
}

// Snapshot is the target as the watch sees it now, in the same terms for
// a Deployment and an Argo Rollout: the signals read its neutral fields.
type Snapshot struct {
	// Kind is the target's kind.
	Kind drills.TargetKind
	// Deployment is the target when it is a Deployment (else nil).
	Deployment *appsv1.Deployment
	// Rollout is the target when it is an Argo Rollout (else nil).
	Rollout *unstructured.Unstructured
	// HashLabel is the pod-template-hash label of the target's
	// ReplicaSets and pods (pod-template-hash, or
	// rollouts-pod-template-hash for a Rollout).
	HashLabel string
	// New is the ReplicaSet of the current template (nil before the
	// controller made it): for a Rollout, the one of
	// status.currentPodHash (its canary during a canary step). Previous
	// is the one to compare it with: for a Deployment the newest older
	// one, for a Rollout its stable ReplicaSet (status.stableRS), or the
	// newest older one when New is the stable one.
	New, Previous *appsv1.ReplicaSet
	// NewHash and PreviousHash are their pod template hashes ("" when
	// there is none).
	NewHash, PreviousHash string
	// Pods are the target's pods; NewPods those of New.
	Pods, NewPods []*corev1.Pod
	// Revision is the target's revision.
	Revision int64
	// Replicas is the desired number of replicas (0: not set), and
	// ReadyReplicas how many are ready.
	Replicas, ReadyReplicas int32
	// Stalled says the controller reports the progress deadline exceeded.
	Stalled bool
	// InProgress says a rollout is under way (not complete, not stalled).
	InProgress bool
}

// Snapshot reads the caches. A missing target is an error.
func (w *Watch) Snapshot() (*Snapshot, error) {
	if w.kind == drills.TargetRollout {
		return w.rolloutSnapshot()
	}
	dep, err := w.deployments.Deployments(w.namespace).Get(w.name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("watch: deployment %s/%s not found: %w", w.namespace, w.name, err)
		}
		return nil, fmt.Errorf("watch: deployment %s/%s: %w", w.namespace, w.name, err)
	}
	snap := &Snapshot{Kind: drills.TargetDeployment, Deployment: dep, HashLabel: appsv1.DefaultDeploymentUniqueLabelKey}
	snap.Revision, _ = deploymentutil.Revision(dep)
	sel, err := metaSelector(dep)
	if err != nil {
		return nil, err
	}
	rss, err := w.replicaSets.ReplicaSets(w.namespace).List(sel)
	if err != nil {
		return nil, fmt.Errorf("watch: replica sets of %s/%s: %w", w.namespace, w.name, err)
	}
	var owned []*appsv1.ReplicaSet
	for _, rs := range rss {
		if ref := ownerRef(rs.OwnerReferences); ref == nil || ref.UID == dep.UID {
			owned = append(owned, rs)
		}
	}
	sort.Slice(owned, func(i, j int) bool { return revisionOf(owned[i]) > revisionOf(owned[j]) })
	for _, rs := range owned {
		if snap.New == nil && templatesEqualIgnoreHash(&rs.Spec.Template, &dep.Spec.Template) {
			snap.New = rs
		}
	}
	for _, rs := range owned {
		if rs != snap.New && (snap.New == nil || revisionOf(rs) < revisionOf(snap.New)) {
			snap.Previous = rs
			break
		}
	}
	if dep.Spec.Replicas != nil {
		snap.Replicas = *dep.Spec.Replicas
	}
	snap.ReadyReplicas = dep.Status.ReadyReplicas
	if c := deploymentutil.GetDeploymentCondition(dep.Status, appsv1.DeploymentProgressing); c != nil && c.Reason == deploymentutil.TimedOutReason {
		snap.Stalled = true
	}
	_, done, err := RolloutStatus(dep)
	snap.InProgress = !done && err == nil
	return snap, w.podsOf(snap, sel)
}

// podsOf fills the hashes of New and Previous and the pods of the
// snapshot.
func (w *Watch) podsOf(snap *Snapshot, sel labels.Selector) error {
	if snap.New != nil {
		snap.NewHash = snap.New.Labels[snap.HashLabel]
	}
	if snap.Previous != nil {
		snap.PreviousHash = snap.Previous.Labels[snap.HashLabel]
	}
	pods, err := w.pods.Pods(w.namespace).List(sel)
	if err != nil {
		return fmt.Errorf("watch: pods of %s/%s: %w", w.namespace, w.name, err)
	}
	snap.Pods = pods
	if snap.New != nil {
		for _, p := range pods {
			if ownedBy(p.OwnerReferences, snap.New) || (snap.NewHash != "" && p.Labels[snap.HashLabel] == snap.NewHash) {
				snap.NewPods = append(snap.NewPods, p)
			}
		}
	}
	return nil
}

func metaSelector(dep *appsv1.Deployment) (labels.Selector, error) {
	if dep.Spec.Selector == nil {
		return labels.Everything(), nil
	}
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return nil, fmt.Errorf("watch: selector of %s/%s: %w", dep.Namespace, dep.Name, err)
	}
	return sel, nil
}

func revisionOf(rs *appsv1.ReplicaSet) int64 {
	v, _ := deploymentutil.Revision(rs)
	return v
}

func ownerRef(refs []metav1.OwnerReference) *metav1.OwnerReference {
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

func ownedBy(refs []metav1.OwnerReference, rs *appsv1.ReplicaSet) bool {
	ref := ownerRef(refs)
	return ref != nil && ref.UID == rs.UID
}

// ImageOf is the image of the named container of a pod template, or of its
// first container when name is empty or not found.
func ImageOf(t *corev1.PodTemplateSpec, container string) string {
	if t == nil || len(t.Spec.Containers) == 0 {
		return ""
	}
	for _, c := range t.Spec.Containers {
		if c.Name == container {
			return c.Image
		}
	}
	return t.Spec.Containers[0].Image
}
