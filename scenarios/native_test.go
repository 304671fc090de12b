package scenarios

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/firedrill/firedrill/drills"
)

func build(t *testing.T, deps Deps, spec drills.Fault) Fault {
	t.Helper()
	f, err := NewNativeRegistry(deps).Build(context.Background(), spec, target)
	require.NoError(t, err)
	require.NotEmpty(t, f.Describe())
	return f
}

func getDep(t *testing.T, cs *fake.Clientset) *appsv1.Deployment {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), "payment", metav1.GetOptions{})
	require.NoError(t, err)
	return d
}

// addReplicaSet makes the fake cluster look like the Deployment controller
// rolled out the current template: a ReplicaSet and Running pods.
func addReplicaSet(t *testing.T, cs *fake.Clientset, hash string, pods int) {
	t.Helper()
	ctx := context.Background()
	dep := getDep(t, cs)
	tmpl := dep.Spec.Template.DeepCopy()
	tmpl.Labels = map[string]string{"app": "payment", appsv1.DefaultDeploymentUniqueLabelKey: hash}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "payment-" + hash, Namespace: ns, Labels: tmpl.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(dep, appsv1.SchemeGroupVersion.WithKind("Deployment"))}},
		Spec: appsv1.ReplicaSetSpec{Template: *tmpl},
	}
	_, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, rs, metav1.CreateOptions{})
	require.NoError(t, err)
	for i := range pods {
		p := pod("payment-"+hash+"-"+string(rune('a'+i)), corev1.PodRunning, tmpl.Labels)
		p.Spec = tmpl.Spec
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		_, err := cs.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
		require.NoError(t, err)
	}
}

func TestPodKill(t *testing.T) {
	cs := fixture(t, 3)
	grace := int64(0)
	seed := int64(3)
	f := build(t, testDeps(cs), drills.Fault{Type: drills.FaultPodKill, Seed: &seed, PodKill: &drills.PodKillSettings{GracePeriodSeconds: &grace}})
	_, err := f.Status(context.Background())
	require.ErrorIs(t, err, ErrNotInjected)

	inj, err := f.Inject(context.Background())
	require.NoError(t, err)
	require.Len(t, inj.Targets, 1)
	require.Equal(t, "delete", inj.Changes[0].Action)
	require.Contains(t, inj.Changes[0].Detail, "gracePeriodSeconds=0")
	killed := inj.Targets[0]
	_, err = cs.CoreV1().Pods(ns).Get(context.Background(), killed.Name, metav1.GetOptions{})
	require.Error(t, err, "killed pod deleted")

	st, err := f.Status(context.Background())
	require.NoError(t, err)
	require.False(t, st.Effective, "no replacement yet: %s", st.Message)
	_, err = cs.CoreV1().Pods(ns).Create(context.Background(), pod("payment-9", corev1.PodRunning, map[string]string{"app": "payment"}), metav1.CreateOptions{})
	require.NoError(t, err)
	st, err = f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective, st.Message)
	require.Contains(t, st.Message, "1 of 1 killed pods gone")
	require.NoError(t, f.Remove(context.Background()))
}

func TestBadImageInjectStatusRemove(t *testing.T) {
	cs := fixture(t, 0)
	f := build(t, testDeps(cs), drills.Fault{Type: drills.FaultBadImage, BadImage: &drills.BadImageSettings{Image: "payment:v2-buggy"}})
	_, err := f.Inject(context.Background())
	require.NoError(t, err)
	dep := getDep(t, cs)
	require.Equal(t, "payment:v2-buggy", dep.Spec.Template.Spec.Containers[0].Image)
	require.Equal(t, "test-drill", dep.Annotations[AnnotationOwner])
	require.Equal(t, "2026-01-02T04:04:05Z", dep.Annotations[AnnotationExpires])
	var rec badImageRecord
	require.NoError(t, json.Unmarshal([]byte(dep.Annotations[AnnotationBadImage]), &rec))
	require.Equal(t, badImageRecord{Container: "payment", Image: "payment:v2-buggy", PreviousImage: "payment:v1", PreviousRevision: "1"}, rec)

	// A second injection on the same Deployment is refused.
	_, err = build(t, testDeps(cs), drills.Fault{Type: drills.FaultBadImage, BadImage: &drills.BadImageSettings{Image: "payment:v3"}}).Inject(context.Background())
	require.Error(t, err)

	st, err := f.Status(context.Background())
	require.NoError(t, err)
	require.False(t, st.Effective, "nothing rolled out yet")
	addReplicaSet(t, cs, "bad", 2)
	st, err = f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective, st.Message)
	require.Contains(t, st.Message, "2 of 2 pods became ready and so took the Service's traffic (the drill sends none to count)")

	require.NoError(t, f.Remove(context.Background()))
	dep = getDep(t, cs)
	require.Equal(t, "payment:v1", dep.Spec.Template.Spec.Containers[0].Image)
	for _, a := range []string{AnnotationOwner, AnnotationExpires, AnnotationBadImage} {
		require.NotContains(t, dep.Annotations, a)
	}
	require.NoError(t, f.Remove(context.Background()), "idempotent")
}

func TestBadImageRemoveAfterEngineRollback(t *testing.T) {
	cs := fixture(t, 0)
	f := build(t, testDeps(cs), drills.Fault{Type: drills.FaultBadImage, BadImage: &drills.BadImageSettings{Image: "payment:v2-buggy"}})
	_, err := f.Inject(context.Background())
	require.NoError(t, err)
	// The engine rolled back to something else meanwhile.
	dep := getDep(t, cs)
	dep.Spec.Template.Spec.Containers[0].Image = "payment:v1.1"
	_, err = cs.AppsV1().Deployments(ns).Update(context.Background(), dep, metav1.UpdateOptions{})
	require.NoError(t, err)
	require.NoError(t, f.Remove(context.Background()))
	dep = getDep(t, cs)
	require.Equal(t, "payment:v1.1", dep.Spec.Template.Spec.Containers[0].Image, "not the bad image any more: left alone")
	require.NotContains(t, dep.Annotations, AnnotationBadImage)
}

func TestBadConfigConfigMap(t *testing.T) {
	cs := fixture(t, 0)
	f := build(t, testDeps(cs), drills.Fault{Type: drills.FaultBadConfig, BadConfig: &drills.BadConfigSettings{
		ConfigMap: "payment-config", Data: map[string]string{"LEDGER_MODE": "broken", "NEW_KEY": "x"},
	}})
	_, err := f.Inject(context.Background())
	require.NoError(t, err)
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "payment-config", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"LEDGER_MODE": "broken", "NEW_KEY": "x"}, cm.Data)
	require.Equal(t, "test-drill", cm.Annotations[AnnotationOwner])
	require.Contains(t, cm.Annotations[AnnotationBadConfig], `"LEDGER_MODE":"normal"`)
	dep := getDep(t, cs)
	stamp := dep.Spec.Template.Annotations[AnnotationRestartedAt]
	require.NotEmpty(t, stamp, "pods rolled")

	addReplicaSet(t, cs, "cfg", 3)
	st, err := f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective, st.Message)

	require.NoError(t, f.Remove(context.Background()))
	cm, err = cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "payment-config", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"LEDGER_MODE": "normal"}, cm.Data, "old values back, added key gone")
	require.NotContains(t, cm.Annotations, AnnotationBadConfig)
	require.NotContains(t, cm.Annotations, AnnotationOwner)
	require.Contains(t, getDep(t, cs).Spec.Template.Annotations, AnnotationRestartedAt, "rolled again")
}

func TestBadConfigEnv(t *testing.T) {
	cs := fixture(t, 0)
	f := build(t, testDeps(cs), drills.Fault{Type: drills.FaultBadConfig, BadConfig: &drills.BadConfigSettings{
		Env: map[string]string{"MODE": "broken", "EXTRA": "1"},
	}})
	_, err := f.Inject(context.Background())
	require.NoError(t, err)
	env := getDep(t, cs).Spec.Template.Spec.Containers[0].Env
	require.ElementsMatch(t, []corev1.EnvVar{{Name: "MODE", Value: "broken"}, {Name: "EXTRA", Value: "1"}}, env)
	require.Contains(t, getDep(t, cs).Annotations, AnnotationBadConfig)
	require.NoError(t, f.Remove(context.Background()))
	dep := getDep(t, cs)
	require.Equal(t, []corev1.EnvVar{{Name: "MODE", Value: "good"}}, dep.Spec.Template.Spec.Containers[0].Env)
	require.NotContains(t, dep.Annotations, AnnotationBadConfig)
}

func TestNetworkDelayUnsupported(t *testing.T) {
	_, err := NewNativeRegistry(testDeps(fixture(t, 1))).Build(context.Background(), drills.Fault{Type: drills.FaultNetworkDelay}, target)
	require.ErrorIs(t, err, ErrUnsupported)
	var ue *UnsupportedError
	require.True(t, errors.As(err, &ue))
	require.Contains(t, err.Error(), "netem")
	require.Contains(t, err.Error(), "Chaos Mesh")
}

func TestRegistry(t *testing.T) {
	r := NewNativeRegistry(testDeps(fixture(t, 1)))
	_, err := r.Build(context.Background(), drills.Fault{Type: drills.FaultPodFailure}, target)
	require.ErrorContains(t, err, `no fault type "pod-failure"`)
	_, err = r.Build(context.Background(), drills.Fault{Type: "bogus"}, target)
	require.ErrorContains(t, err, `"bogus"`)
	require.Error(t, r.Register(drills.FaultPodKill, FactoryFunc(newPodKill)), "twice")
	require.Equal(t, drills.FaultPodKill, r.Types()[0])
	require.Equal(t, drills.BackendNative, r.Backend())

	empty := NewRegistry(drills.BackendChaosMesh, Deps{})
	_, err = empty.Build(context.Background(), drills.Fault{Type: drills.FaultPodKill}, target)
	require.ErrorContains(t, err, "chaos-mesh backend has no fault type")
}

func TestDryRun(t *testing.T) {
	cs := fixture(t, 3)
	deps := testDeps(cs)
	deps.DryRun = true
	before := getDep(t, cs)

	inj, err := build(t, deps, drills.Fault{Type: drills.FaultBadImage, BadImage: &drills.BadImageSettings{Image: "payment:bad"}}).Inject(context.Background())
	require.NoError(t, err)
	require.True(t, inj.DryRun)
	require.Len(t, inj.Changes, 1)
	require.Equal(t, "Deployment demo/payment", inj.Changes[0].Object)
	require.JSONEq(t, `{"metadata":{"annotations":{
		"firedrill.dev/drill":"test-drill","firedrill.dev/expires":"2026-01-02T04:04:05Z",
		"firedrill.dev/bad-image":"{\"container\":\"payment\",\"image\":\"payment:bad\",\"previousImage\":\"payment:v1\",\"previousRevision\":\"1\"}"}},
		"spec":{"template":{"metadata":{"annotations":{"firedrill.dev/pushed-at":"2026-01-02T03:04:05Z"}},"spec":{"containers":[{"image":"payment:bad","name":"payment"}]}}}}`, inj.Changes[0].Detail)

	inj, err = build(t, deps, drills.Fault{Type: drills.FaultPodKill, Selector: &drills.Selector{Mode: drills.ModeAll}}).Inject(context.Background())
	require.NoError(t, err)
	require.Len(t, inj.Changes, 3)

	inj, err = build(t, deps, drills.Fault{Type: drills.FaultBadConfig, BadConfig: &drills.BadConfigSettings{ConfigMap: "payment-config", Data: map[string]string{"LEDGER_MODE": "broken"}}}).Inject(context.Background())
	require.NoError(t, err)
	require.Len(t, inj.Changes, 2)
	require.Contains(t, inj.Changes[0].Detail, `"data":{"LEDGER_MODE":"broken"}`)

	deps.Exec = &fakeRunner{}
	deps.Netns = fakeNetns{}
	seed := int64(1)
	inj, err = build(t, deps, drills.Fault{Type: drills.FaultNetworkLoss, Seed: &seed, Network: &drills.NetworkSettings{LossPercent: 30, Direction: drills.DirectionBoth}}).Inject(context.Background())
	require.NoError(t, err)
	require.Len(t, deps.Exec.(*fakeRunner).cmds, 0, "dry run runs no command")
	var lines []string
	for _, c := range inj.Changes {
		lines = append(lines, c.Detail)
	}
	pid := strings.TrimPrefix(inj.Targets[0].Name, "payment-")
	require.Equal(t, []string{
		"nsenter --net=/proc/10" + pid + "/ns/net iptables -w -N FIREDRILL-FAULT",
		`nsenter --net=/proc/10` + pid + `/ns/net iptables -w -A FIREDRILL-FAULT -m comment --comment "firedrill.dev/drill=test-drill firedrill.dev/expires=2026-01-02T04:04:05Z" -m statistic --mode random --probability 0.3000 -j DROP`,
		"nsenter --net=/proc/10" + pid + "/ns/net iptables -w -I INPUT ! -i lo -j FIREDRILL-FAULT",
		"nsenter --net=/proc/10" + pid + "/ns/net iptables -w -I OUTPUT ! -o lo -j FIREDRILL-FAULT",
	}, lines)

	// Nothing changed in the cluster.
	require.Equal(t, before, getDep(t, cs))
	pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{})
	require.NoError(t, err)
	require.Len(t, pods.Items, 5)
}

func TestNetworkPartitionCommands(t *testing.T) {
	cs := fixture(t, 3)
	deps := testDeps(cs)
	run := &fakeRunner{reply: func(c string) (string, error) {
		if strings.HasSuffix(c, "iptables -w -S") {
			return "-N FIREDRILL-FAULT\n-A OUTPUT ! -o lo -j FIREDRILL-FAULT\n-A FIREDRILL-FAULT -m comment --comment x -j DROP\n", nil
		}
		return "", nil
	}}
	deps.Exec, deps.Netns = run, fakeNetns{}
	tr := &fakeTraffic{}
	tr.set("10.0.0.9", EndpointCounts{Sent: 5, TimedOut: 5}) // the fixture's pods share an IP
	deps.Traffic = tr
	f := build(t, deps, drills.Fault{Type: drills.FaultNetworkPartition, Selector: &drills.Selector{Mode: drills.ModeAll}})
	inj, err := f.Inject(context.Background())
	require.NoError(t, err)
	require.Len(t, inj.Targets, 3)
	require.Len(t, run.matching("-N FIREDRILL-FAULT"), 3)
	require.Len(t, run.matching("-I OUTPUT ! -o lo -j FIREDRILL-FAULT"), 3, "direction to: outgoing only")
	require.Empty(t, run.matching("INPUT"))
	require.Empty(t, run.matching("statistic"), "partition drops everything")

	st, err := f.Status(context.Background())
	require.NoError(t, err)
	require.True(t, st.Effective, st.Message)

	require.NoError(t, f.Remove(context.Background()))
	require.Len(t, run.matching("-D OUTPUT ! -o lo -j FIREDRILL-FAULT"), 3)
	require.Len(t, run.matching("-X FIREDRILL-FAULT"), 3)
	_, err = f.Status(context.Background())
	require.ErrorIs(t, err, ErrNotInjected)
}

func TestNetworkInjectFailureUndoes(t *testing.T) {
	cs := fixture(t, 1)
	deps := testDeps(cs)
	run := &fakeRunner{reply: func(c string) (string, error) {
		if strings.Contains(c, "-I OUTPUT") {
			return "", errors.New("boom")
		}
		return "", nil
	}}
	deps.Exec, deps.Netns = run, fakeNetns{}
	_, err := build(t, deps, drills.Fault{Type: drills.FaultNetworkPartition}).Inject(context.Background())
	require.ErrorContains(t, err, "boom")
	require.Len(t, run.matching("-X FIREDRILL-FAULT"), 1, "the chain it created is deleted again")
}

func TestBandwidthCommands(t *testing.T) {
	cs := fixture(t, 1)
	deps := testDeps(cs)
	run := &fakeRunner{reply: func(c string) (string, error) {
		if strings.HasSuffix(c, "ip -o -4 addr show") {
			return "1: lo    inet 127.0.0.1/8 scope host lo\n2: eth0    inet 10.0.0.9/24 brd 10.0.0.255 scope global eth0\n", nil
		}
		return "", nil
	}}
	deps.Exec, deps.Netns = run, fakeNetns{}
	f := build(t, deps, drills.Fault{Type: drills.FaultBandwidth, Network: &drills.NetworkSettings{Rate: "1mbit"}})
	_, err := f.Inject(context.Background())
	require.NoError(t, err)
	require.Equal(t, []string{"nsenter --net=/proc/100/ns/net tc qdisc add dev eth0 root handle fd: tbf rate 1mbit burst 10000 limit 20000"}, run.matching("qdisc add"))
	require.NoError(t, f.Remove(context.Background()))
	require.Equal(t, []string{"nsenter --net=/proc/100/ns/net tc qdisc del dev eth0 root handle fd:"}, run.matching("qdisc del"))

	_, err = NewNativeRegistry(deps).Build(context.Background(), drills.Fault{Type: drills.FaultBandwidth, Network: &drills.NetworkSettings{Rate: "fast"}}, target)
	require.ErrorContains(t, err, "not a tc rate")
	_, err = NewNativeRegistry(deps).Build(context.Background(), drills.Fault{Type: drills.FaultNetworkLoss}, target)
	require.ErrorContains(t, err, "lossPercent")
}

func TestSweeper(t *testing.T) {
	cs := fixture(t, 1)
	deps := testDeps(cs)
	_, err := build(t, deps, drills.Fault{Type: drills.FaultBadImage, BadImage: &drills.BadImageSettings{Image: "payment:bad"}}).Inject(context.Background())
	require.NoError(t, err)
	_, err = build(t, deps, drills.Fault{Type: drills.FaultBadConfig, BadConfig: &drills.BadConfigSettings{ConfigMap: "payment-config", Data: map[string]string{"LEDGER_MODE": "broken"}}}).Inject(context.Background())
	require.NoError(t, err)
	// The run crashed: nothing removed. Before expiry a sweep leaves it.
	done, err := NewSweeper(deps).Sweep(context.Background(), SweepOptions{Namespace: ns})
	require.NoError(t, err)
	require.Empty(t, done)
	require.Equal(t, "payment:bad", getDep(t, cs).Spec.Template.Spec.Containers[0].Image)

	// Another owner's sweep leaves it too.
	done, err = NewSweeper(deps).Sweep(context.Background(), SweepOptions{Namespace: ns, Owner: "other"})
	require.NoError(t, err)
	require.Empty(t, done)

	// After expiry it is reverted.
	later := deps
	later.Now = func() time.Time { return fixedT0.Add(2 * time.Hour) }
	done, err = NewSweeper(later).Sweep(context.Background(), SweepOptions{Namespace: ns})
	require.NoError(t, err)
	require.Len(t, done, 2, "%v", done)
	dep := getDep(t, cs)
	require.Equal(t, "payment:v1", dep.Spec.Template.Spec.Containers[0].Image)
	require.NotContains(t, dep.Annotations, AnnotationOwner)
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(context.Background(), "payment-config", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "normal", cm.Data["LEDGER_MODE"])
	require.NotContains(t, cm.Annotations, AnnotationBadConfig)

	// Network: the chain and jumps found in a pod are deleted.
	run := &fakeRunner{reply: func(c string) (string, error) {
		switch {
		case strings.HasSuffix(c, "iptables -w -S"):
			return "-P INPUT ACCEPT\n-N FIREDRILL-FAULT\n-A INPUT ! -i lo -j FIREDRILL-FAULT\n-A FIREDRILL-FAULT -j DROP\n", nil
		case strings.HasSuffix(c, "tc qdisc show"):
			return "qdisc noqueue 0: dev lo root refcnt 2\nqdisc tbf fd: dev eth0 root refcnt 2 rate 8Mbit burst 10000b lat 10ms\n", nil
		}
		return "", nil
	}}
	later.Exec, later.Netns = run, fakeNetns{}
	// A hostNetwork pod's netns is the node's: the sweep stays out.
	_, err = cs.CoreV1().Pods(ns).Create(context.Background(), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "node-agent", Namespace: ns, UID: "uid-node-agent"},
		Spec:       corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{Name: "agent"}}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "192.0.2.2"},
	}, metav1.CreateOptions{})
	require.NoError(t, err)
	done, err = NewSweeper(later).Sweep(context.Background(), SweepOptions{Namespace: ns, Network: true, Owner: "test-drill"})
	require.NoError(t, err)
	require.NotEmpty(t, done)
	require.Len(t, run.matching("iptables -w -D INPUT ! -i lo -j FIREDRILL-FAULT"), 2, "both running pods, not the hostNetwork one")
	require.Len(t, run.matching("-X FIREDRILL-FAULT"), 2)
	require.Len(t, run.matching("tc qdisc del dev eth0 root handle fd:"), 2)
}

func TestRedactDSN(t *testing.T) {
	require.Equal(t, "postgres://u:xxxxx@h/db", redactDSN("postgres://u:secret@h/db"))
}

func TestDataCorruptionDryRunAndValidation(t *testing.T) {
	deps := testDeps(fixture(t, 0))
	_, err := NewNativeRegistry(deps).Build(context.Background(), drills.Fault{Type: drills.FaultDataCorruption, DataCorruption: &drills.DataCorruptionSettings{DSN: "x"}}, target)
	require.Error(t, err)
	deps.DryRun = true
	f := build(t, deps, drills.Fault{Type: drills.FaultDataCorruption, DataCorruption: &drills.DataCorruptionSettings{DSN: "postgres://u:pw@127.0.0.1/db", SQL: "UPDATE t SET x = 1"}})
	inj, err := f.Inject(context.Background())
	require.NoError(t, err)
	require.Equal(t, Change{Object: "Database postgres://u:xxxxx@127.0.0.1/db", Action: "sql", Detail: "UPDATE t SET x = 1"}, inj.Changes[0])
	_, err = f.Status(context.Background())
	require.ErrorIs(t, err, ErrNotInjected)
}

// TestRegistryWithOwnerNamesTheFaults checks that a registry WithOwner
// writes that owner on what its faults change, so that an owner sweep (the
// next run of the same drill) removes exactly those, before expiry.
func TestRegistryWithOwnerNamesTheFaults(t *testing.T) {
	cs := fixture(t, 0)
	deps := testDeps(cs)
	reg := NewNativeRegistry(deps).WithOwner("firedrill-bad-image")
	require.Equal(t, "firedrill-bad-image", reg.Owner())
	require.Equal(t, deps.Owner, NewNativeRegistry(deps).Owner(), "the original registry is unchanged")
	f, err := reg.Build(context.Background(), drills.Fault{Type: drills.FaultBadImage, BadImage: &drills.BadImageSettings{Image: "payment:bad"}}, target)
	require.NoError(t, err)
	_, err = f.Inject(context.Background())
	require.NoError(t, err)
	require.Equal(t, "firedrill-bad-image", getDep(t, cs).Annotations[AnnotationOwner])

	done, err := NewSweeper(deps).Sweep(context.Background(), SweepOptions{Namespace: ns, Owner: deps.Owner})
	require.NoError(t, err)
	require.Empty(t, done, "another owner's sweep leaves it")
	done, err = NewSweeper(deps).Sweep(context.Background(), SweepOptions{Namespace: ns, Owner: "firedrill-bad-image"})
	require.NoError(t, err)
	require.Len(t, done, 1)
	require.Equal(t, "payment:v1", getDep(t, cs).Spec.Template.Spec.Containers[0].Image)
}

// TestBadImageProvenByCreatedPods: a guard may revert a bad release before
// any of its pods runs; a pod created for the bad template still proves
// the rollout happened.
