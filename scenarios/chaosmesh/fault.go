package chaosmesh

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/chaos-mesh/chaos-mesh/api/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/scenarios"
)

// statusObject is a chaos object with Chaos Mesh's common status.
type statusObject interface {
	client.Object
	GetStatus() *v1alpha1.ChaosStatus
}

// fault is one Chaos Mesh object's life: create, wait for injected, prove,
// delete.
type fault struct {
	spec   drills.Fault
	target drills.Target
	sel    Selection
	deps   scenarios.Deps
	c      client.Client
	opts   options

	mu         sync.Mutex
	obj        statusObject          // created object; nil before Inject and after Remove
	ref        string                // "Kind namespace/name" of obj (the client clears its TypeMeta)
	before     map[string]corev1.Pod // Running candidates at Inject, by name
	candidates int
	at         time.Time // when the object was created
	// provenPods are the partitioned pods whose effect was measured.
	provenPods map[string]string
	// outSeen are the hit pods (by name) seen out of the target Service's
	// ready endpoints at least once.
	outSeen map[string]bool
}

// Describe says which Chaos Mesh kind hits which pods.
func (f *fault) Describe() string {
	mode := string(f.sel.Mode)
	if f.sel.Mode == drills.ModeFixed || f.sel.Mode == drills.ModeFixedPercent {
		mode += fmt.Sprintf(" %d", f.sel.Value)
		if f.sel.Mode == drills.ModeFixedPercent {
			mode += "%"
		}
	}
	kind := kindPodChaos
	switch {
	case f.spec.Type == drills.FaultChaosMesh && f.spec.ChaosMesh != nil:
		kind = f.spec.ChaosMesh.Kind
	case strings.HasPrefix(string(f.spec.Type), "network-") || f.spec.Type == drills.FaultBandwidth:
		kind = kindNetworkChaos
	}
	return fmt.Sprintf("%s via Chaos Mesh %s: mode %s of the pods %s in %s", f.spec.Type, kind, mode, labelString(f.sel), f.sel.Namespace)
}

func labelString(s Selection) string {
	ls, err := s.LabelSelector()
	if err != nil {
		return fmt.Sprint(s.Labels)
	}
	return ls.String()
}

// build builds the object with an owner and expiry from now.
func (f *fault) build() (statusObject, error) {
	exp := f.deps.Now().Add(f.deps.TTL)
	if f.spec.Duration != nil {
		exp = exp.Add(f.spec.Duration.Duration)
	}
	obj, err := Build(f.spec, f.target, f.sel, Meta{Owner: f.deps.Owner, Expires: exp})
	if err != nil {
		return nil, err
	}
	so, ok := obj.(statusObject)
	if !ok {
		return nil, fmt.Errorf("chaosmesh: %T has no Chaos Mesh status", obj)
	}
	return so, nil
}

func objectRef(obj client.Object) string {
	return obj.GetObjectKind().GroupVersionKind().Kind + " " + obj.GetNamespace() + "/" + obj.GetName()
}

// Inject creates the object and waits until Chaos Mesh reports it
// injected (condition AllInjected). The candidate pods are checked first
// against the blast-radius limit. With Deps.DryRun the object goes to the
// API server as a dry run only (so the CRD schema still checks it).
func (f *fault) Inject(ctx context.Context) (*scenarios.Injection, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.obj != nil {
		return nil, fmt.Errorf("chaosmesh: %s is already injected", f.ref)
	}
	obj, err := f.build()
	if err != nil {
		return nil, err
	}
	pods, err := f.runningPods(ctx)
	if err != nil {
		return nil, err
	}
	n := f.sel.count(len(pods))
	if n == 0 {
		return nil, fmt.Errorf("chaosmesh: %w: mode %s selects none of the %d Running pods matching %s in %s", scenarios.ErrNoPods, f.sel.Mode, len(pods), labelString(f.sel), f.sel.Namespace)
	}
	if float64(n) > f.deps.MaxShare*float64(len(pods))+1e-9 {
		return nil, fmt.Errorf("chaosmesh: %w: mode %s would hit %d of %d pods, more than the allowed %.0f%%", scenarios.ErrBlastRadius, f.sel.Mode, n, len(pods), 100*f.deps.MaxShare)
	}
	body, err := json.Marshal(obj)
	if err != nil {
		return nil, fmt.Errorf("chaosmesh: %w", err)
	}
	inj := &scenarios.Injection{
		Type:    f.spec.Type,
		DryRun:  f.deps.DryRun,
		At:      f.deps.Now(),
		Changes: []scenarios.Change{{Object: objectRef(obj), Action: "create", Detail: string(body)}},
	}
	if f.deps.DryRun {
		if err := f.c.Create(ctx, obj, client.DryRunAll); err != nil {
			return inj, fmt.Errorf("chaosmesh: dry run: create %s: %w", objectRef(obj), err)
		}
		return inj, nil
	}
	f.before = map[string]corev1.Pod{}
	for _, p := range pods {
		f.before[p.Name] = p
	}
	f.candidates = len(pods)
	f.at = inj.At
	ref := objectRef(obj)
	if err := f.c.Create(ctx, obj); err != nil {
		return inj, fmt.Errorf("chaosmesh: create %s: %w", ref, err)
	}
	f.obj, f.ref = obj, ref
	f.deps.Logger.InfoContext(ctx, "chaos mesh: created", "object", f.ref, "owner", f.deps.Owner)
	got, err := f.waitInjected(ctx)
	if got != nil {
		inj.Targets = f.targets(got)
	}
	if err != nil {
		return inj, err
	}
	f.deps.Logger.InfoContext(ctx, "chaos mesh: injected", "object", f.ref, "targets", len(inj.Targets))
	return inj, nil
}

// runningPods are the Running, not deleted pods the selection matches.
func (f *fault) runningPods(ctx context.Context) ([]corev1.Pod, error) {
	ls, err := f.sel.LabelSelector()
	if err != nil {
		return nil, fmt.Errorf("chaosmesh: selector: %w", err)
	}
	list, err := f.deps.Client.CoreV1().Pods(f.sel.Namespace).List(ctx, metav1.ListOptions{LabelSelector: ls.String()})
	if err != nil {
		return nil, fmt.Errorf("chaosmesh: list pods %s in %s: %w", ls, f.sel.Namespace, err)
	}
	var pods []corev1.Pod
	for _, p := range list.Items {
		if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && ls.Matches(labelSet(p.Labels)) {
			pods = append(pods, p)
		}
	}
	return pods, nil
}

// get reads the created object afresh.
func (f *fault) get(ctx context.Context) (statusObject, error) {
	got := f.obj.DeepCopyObject().(statusObject)
	if err := f.c.Get(ctx, client.ObjectKeyFromObject(f.obj), got); err != nil {
		return nil, err
	}
	return got, nil
}

// waitInjected polls the object until its AllInjected condition is True.
func (f *fault) waitInjected(ctx context.Context) (statusObject, error) {
	var last statusObject
	err := wait.PollUntilContextTimeout(ctx, f.opts.poll, f.opts.injectTimeout, true, func(ctx context.Context) (bool, error) {
		got, err := f.get(ctx)
		if err != nil {
			if apierrors.IsNotFound(err) {
				return false, fmt.Errorf("%s was deleted while waiting for it", f.ref)
			}
			return false, nil // transient
		}
		last = got
		return condition(got.GetStatus(), v1alpha1.ConditionAllInjected) == corev1.ConditionTrue, nil
	})
	if err != nil {
		why := "no status: is the Chaos Mesh controller-manager running?"
		if last != nil && len(last.GetFinalizers()) > 0 {
			why = summary(last.GetStatus())
		}
		return last, fmt.Errorf("chaosmesh: %s not injected within %s (%s): %w", f.ref, f.opts.injectTimeout, why, err)
	}
	return last, nil
}

func condition(st *v1alpha1.ChaosStatus, t v1alpha1.ChaosConditionType) corev1.ConditionStatus {
	for _, c := range st.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return corev1.ConditionUnknown
}

// summary is the conditions and the last record event, for messages.
func summary(st *v1alpha1.ChaosStatus) string {
	var parts []string
	for _, c := range st.Conditions {
		parts = append(parts, fmt.Sprintf("%s=%s", c.Type, c.Status))
	}
	for _, r := range st.Experiment.Records {
		if n := len(r.Events); n > 0 {
			e := r.Events[n-1]
			parts = append(parts, fmt.Sprintf("%s: %s %s %s", r.Id, e.Operation, e.Type, e.Message))
		}
	}
	if len(parts) == 0 {
		return "no conditions yet"
	}
	return strings.Join(parts, "; ")
}

// recordPod is the namespace and pod of a record id ("ns/pod" or
// "ns/pod/container").
func recordPod(id string) (ns, pod string, ok bool) {
	parts := strings.Split(id, "/")
	if len(parts) < 2 {
		return "", "", false
	}
	return parts[0], parts[1], true
}

func (f *fault) targets(obj statusObject) []scenarios.Target {
	var out []scenarios.Target
	for _, r := range obj.GetStatus().Experiment.Records {
		ns, name, ok := recordPod(r.Id)
		if !ok {
			continue
		}
		t := scenarios.Target{Kind: "Pod", Namespace: ns, Name: name}
		if p, ok := f.before[name]; ok && ns == f.sel.Namespace {
			t.UID, t.IP = string(p.UID), p.Status.PodIP
		}
		out = append(out, t)
	}
	return out
}

// Remove deletes the object and waits until it is gone (Chaos Mesh
// recovers the targets and drops its finalizer first). It is idempotent.
func (f *fault) Remove(ctx context.Context) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.obj == nil {
		return nil
	}
	ref := f.ref
	if err := f.c.Delete(ctx, f.obj); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("chaosmesh: delete %s: %w", ref, err)
	}
	var last statusObject
	err := wait.PollUntilContextTimeout(ctx, f.opts.poll, f.opts.removeTimeout, true, func(ctx context.Context) (bool, error) {
		got, err := f.get(ctx)
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err == nil {
			last = got
		}
		return false, nil
	})
	if err != nil {
		detail := "no answer from the API server"
		if last != nil {
			detail = fmt.Sprintf("finalizers %v, %s", last.GetFinalizers(), summary(last.GetStatus()))
		}
		return fmt.Errorf("chaosmesh: %s still exists %s after delete (%s): is the Chaos Mesh controller-manager running? %w", ref, f.opts.removeTimeout, detail, err)
	}
	f.deps.Logger.InfoContext(ctx, "chaos mesh: removed", "object", ref)
	f.obj = nil
	return nil
}

// ErrGone is returned by Status when the object was deleted behind
// firedrill's back.
var ErrGone = errors.New("chaosmesh: chaos object gone")

// Status reads the object's conditions and records and checks their
// effect on the pods: a killed pod's UID is gone and the workload has as
// many Running pods again (pod-kill), a failed pod is not Ready
// (pod-failure), a killed container restarted (container-kill). Faults
// acting inside pods are taken as Chaos Mesh reports them.
func (f *fault) Status(ctx context.Context) (scenarios.Status, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.obj == nil {
		return scenarios.Status{}, scenarios.ErrNotInjected
	}
	got, err := f.get(ctx)
	if apierrors.IsNotFound(err) {
		return scenarios.Status{}, fmt.Errorf("%w: %s", ErrGone, f.ref)
	}
	if err != nil {
		return scenarios.Status{}, fmt.Errorf("chaosmesh: get %s: %w", f.ref, err)
	}
	st := got.GetStatus()
	injected := condition(st, v1alpha1.ConditionAllInjected) == corev1.ConditionTrue
	out := scenarios.Status{Injected: injected}
	for _, c := range st.Conditions {
		out.Evidence = append(out.Evidence, fmt.Sprintf("%s condition %s=%s", f.ref, c.Type, c.Status))
	}
	allRecorded := len(st.Experiment.Records) > 0
	for _, r := range st.Experiment.Records {
		out.Evidence = append(out.Evidence, fmt.Sprintf("record %s: phase %s, injected %d time(s)", r.Id, r.Phase, r.InjectedCount))
		if r.Phase != v1alpha1.Injected || r.InjectedCount < 1 {
			allRecorded = false
		}
	}
	if !injected || !allRecorded {
		out.Message = fmt.Sprintf("%s not injected yet (%s)", f.ref, summary(st))
		return out, nil
	}
	var effective bool
	var msg string
	switch {
	case f.spec.Type == drills.FaultPodKill:
		effective, msg, err = f.podKillEffect(ctx, st, &out)
	case f.spec.Type == drills.FaultPodFailure:
		effective, msg, err = f.podFailureEffect(ctx, st, &out)
	case f.spec.Type == drills.FaultContainerKill:
		effective, msg, err = f.containerKillEffect(ctx, st, &out)
	case f.spec.Type == drills.FaultNetworkPartition:
		effective, msg = f.partitionEffect(st, &out)
	default:
		effective = true
		msg = fmt.Sprintf("%d target(s) injected, as reported by Chaos Mesh's records", len(st.Experiment.Records))
	}
	if err != nil {
		return scenarios.Status{}, err
	}
	out.Effective, out.Message = effective, msg
	return out, nil
}
