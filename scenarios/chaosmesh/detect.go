package chaosmesh

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Labels of the pods of a Helm install of Chaos Mesh.
const (
	controllerPodSelector = "app.kubernetes.io/name=chaos-mesh,app.kubernetes.io/component=controller-manager"
	daemonPodSelector     = "app.kubernetes.io/name=chaos-mesh,app.kubernetes.io/component=chaos-daemon"
	// RecordsFinalizer is the finalizer the Chaos Mesh controller puts on
	// every chaos object it handles.
	RecordsFinalizer = "chaos-mesh/records"
	// DefaultProbeTimeout bounds Detect's probe of the controller.
	DefaultProbeTimeout = 15 * time.Second
)

// requiredResources are the Chaos Mesh resources firedrill creates.
var requiredResources = []string{"podchaos", "networkchaos", "schedules"}

// Availability is what Detect found.
type Availability struct {
	// CRDs is true when the API server serves chaos-mesh.org/v1alpha1
	// with PodChaos, NetworkChaos and Schedule.
	CRDs bool
	// Controller is true when a Chaos Mesh controller-manager acts on
	// chaos objects: a Ready controller-manager pod, or, for one running
	// outside the cluster, a probe object it took up.
	Controller bool
	// Daemon is true when a chaos-daemon pod runs (faults inside pods
	// need it).
	Daemon bool
	// Reason says what was found, in a sentence.
	Reason string
}

// Available reports whether the Chaos Mesh backend can be used at all.
func (a Availability) Available() bool { return a.CRDs && a.Controller }

type detectOptions struct {
	namespace string
	timeout   time.Duration
}

// DetectOption configures Detect.
type DetectOption func(*detectOptions)

// WithProbeNamespace sets the namespace of the probe object (default
// "default"); the probe selects no pod.
func WithProbeNamespace(ns string) DetectOption { return func(o *detectOptions) { o.namespace = ns } }

// WithProbeTimeout bounds the wait for the controller to take up the probe
// (default 15s).
func WithProbeTimeout(d time.Duration) DetectOption { return func(o *detectOptions) { o.timeout = d } }

// Detect checks whether Chaos Mesh runs on the cluster of cfg: its CRDs
// are served (discovery of chaos-mesh.org/v1alpha1), a controller-manager
// acts on chaos objects, and whether a chaos daemon runs. A controller
// outside the cluster (as firedrill runs it on the local cluster) is found
// with a probe: a PodChaos that selects no pod, which a live controller
// marks with its finalizer; the probe is deleted again.
func Detect(ctx context.Context, cfg *rest.Config, opts ...DetectOption) Availability {
	o := detectOptions{namespace: "default", timeout: DefaultProbeTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	var a Availability
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		a.Reason = "no discovery client: " + err.Error()
		return a
	}
	rl, err := dc.ServerResourcesForGroupVersion(GroupVersion.String())
	if err != nil {
		if apierrors.IsNotFound(err) {
			a.Reason = "Chaos Mesh CRDs are not installed (the API server does not serve " + GroupVersion.String() + ")"
		} else {
			a.Reason = "cannot discover " + GroupVersion.String() + ": " + err.Error()
		}
		return a
	}
	var served []string
	for _, r := range rl.APIResources {
		served = append(served, r.Name)
	}
	for _, r := range requiredResources {
		if !slices.Contains(served, r) {
			a.Reason = fmt.Sprintf("Chaos Mesh CRDs are incomplete: %s/%s is not served", GroupVersion, r)
			return a
		}
	}
	a.CRDs = true
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		a.Reason = "no Kubernetes client: " + err.Error()
		return a
	}
	var found []string
	if pod := readyPod(ctx, cs, controllerPodSelector); pod != "" {
		a.Controller = true
		found = append(found, "controller-manager pod "+pod)
	} else {
		c, err := NewClient(cfg)
		if err == nil {
			var took time.Duration
			took, err = probe(ctx, c, o)
			if err == nil {
				a.Controller = true
				found = append(found, fmt.Sprintf("a controller-manager took up a probe PodChaos in %s", took.Round(time.Millisecond)))
			}
		}
		if err != nil {
			a.Reason = "Chaos Mesh CRDs are installed but no controller-manager runs: " + err.Error()
			return a
		}
	}
	if pod := readyPod(ctx, cs, daemonPodSelector); pod != "" {
		a.Daemon = true
		found = append(found, "chaos-daemon pod "+pod)
	} else {
		found = append(found, "no chaos-daemon (faults inside pods cannot run)")
	}
	a.Reason = "Chaos Mesh is available: CRDs served, " + strings.Join(found, ", ")
	return a
}

// readyPod is the first Running, Ready pod matching selector in any
// namespace, or "".
func readyPod(ctx context.Context, cs kubernetes.Interface, selector string) string {
	list, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return ""
	}
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && ready(&p) {
			return p.Namespace + "/" + p.Name
		}
	}
	return ""
}

// probe creates a PodChaos that selects no pod and waits until a
// controller puts its finalizer on it; the probe is always deleted.
func probe(ctx context.Context, c client.Client, o detectOptions) (time.Duration, error) {
	name := "firedrill-probe-" + rand.String(6)
	obj := &v1alpha1.PodChaos{TypeMeta: typeMeta(kindPodChaos)}
	obj.Name, obj.Namespace = name, o.namespace
	obj.Labels = map[string]string{LabelManagedBy: ManagedBy}
	obj.Spec.Action = v1alpha1.PodKillAction
	obj.Spec.Mode = v1alpha1.OneMode
	obj.Spec.Selector.Namespaces = []string{o.namespace}
	obj.Spec.Selector.LabelSelectors = map[string]string{"firedrill.dev/probe": name}
	start := time.Now()
	if err := c.Create(ctx, obj); err != nil {
		return 0, fmt.Errorf("create probe %s/%s: %w", o.namespace, name, err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		_ = c.Delete(dctx, obj)
		_ = wait.PollUntilContextCancel(dctx, 100*time.Millisecond, true, func(ctx context.Context) (bool, error) {
			err := c.Get(ctx, client.ObjectKeyFromObject(obj), &v1alpha1.PodChaos{})
			return apierrors.IsNotFound(err), nil
		})
	}()
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, o.timeout, true, func(ctx context.Context) (bool, error) {
		got := &v1alpha1.PodChaos{}
		if err := c.Get(ctx, client.ObjectKeyFromObject(obj), got); err != nil {
			return false, nil
		}
		return slices.Contains(got.Finalizers, RecordsFinalizer), nil
	})
	if err != nil {
		return 0, fmt.Errorf("no controller took up probe PodChaos %s/%s within %s", o.namespace, name, o.timeout)
	}
	return time.Since(start), nil
}
