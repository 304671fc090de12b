package engine

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"
)

// Watch follows the target Deployment, its ReplicaSets and its pods with
// shared informers (watches, not polling) in the target's namespace.
type Watch struct {
	namespace, name string
	factory         informers.SharedInformerFactory
	deployments     appslisters.DeploymentLister
	replicaSets     appslisters.ReplicaSetLister
	pods            corelisters.PodLister
}

// NewWatch builds the watch of Deployment namespace/name; Start runs it.
func NewWatch(client kubernetes.Interface, namespace, name string) *Watch {
	f := informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithNamespace(namespace))
	return &Watch{
		namespace: namespace, name: name, factory: f,
		deployments: f.Apps().V1().Deployments().Lister(),
		replicaSets: f.Apps().V1().ReplicaSets().Lister(),
		pods:        f.Core().V1().Pods().Lister(),
	}
}

// Start starts the informers and waits for their caches to sync; they
// stop when ctx ends.
func (w *Watch) Start(ctx context.Context) error {
	w.factory.Start(ctx.Done())
	for typ, ok := range w.factory.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("watch %s/%s: cache of %v did not sync: %w", w.namespace, w.name, typ, context.Cause(ctx))
		}
	}
	return nil
}

// Shutdown waits for the informers to stop after their context ended.
func (w *Watch) Shutdown() { w.factory.Shutdown() }

// Snapshot is the target as the watch sees it now.
type Snapshot struct {
	// Deployment is the target.
	Deployment *appsv1.Deployment
	// New is the ReplicaSet of the Deployment's current template (nil
	// before the controller made it); Previous is the newest older one.
	New, Previous *appsv1.ReplicaSet
	// Pods are the Deployment's pods; NewPods those of New.
	Pods, NewPods []*corev1.Pod
	// Revision is the Deployment's revision.
	Revision int64
}

// Snapshot reads the caches. A missing Deployment is an error.
func (w *Watch) Snapshot() (*Snapshot, error) {
	dep, err := w.deployments.Deployments(w.namespace).Get(w.name)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("watch: deployment %s/%s not found: %w", w.namespace, w.name, err)
		}
		return nil, fmt.Errorf("watch: deployment %s/%s: %w", w.namespace, w.name, err)
	}
	snap := &Snapshot{Deployment: dep}
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
	pods, err := w.pods.Pods(w.namespace).List(sel)
	if err != nil {
		return nil, fmt.Errorf("watch: pods of %s/%s: %w", w.namespace, w.name, err)
	}
	snap.Pods = pods
	if snap.New != nil {
		hash := snap.New.Labels[appsv1.DefaultDeploymentUniqueLabelKey]
		for _, p := range pods {
			if ownedBy(p.OwnerReferences, snap.New) || (hash != "" && p.Labels[appsv1.DefaultDeploymentUniqueLabelKey] == hash) {
				snap.NewPods = append(snap.NewPods, p)
			}
		}
	}
	return snap, nil
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
