package runner_test

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/firedrill/firedrill/clusters/images"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
	"github.com/firedrill/firedrill/scenarios"
)

// TestAbortStopsPartitionDrill runs the weekly partition drill with
// firedrill run, sets the kill switch with firedrill abort once the
// partition is in, and requires the partition removed within 5 s, the
// drill ended inconclusive ("aborted", exit 2), and, while the switch is
// set, a new drill refused before it touches anything.
func TestAbortStopsPartitionDrill(t *testing.T) {
	st, cs := stackClient(t)
	bin := buildCLI(t)
	kubeconfig := st.Cluster().Kubeconfig()
	t.Cleanup(func() {
		_, _ = scenarios.NewKillSwitch(cs).Clear(context.Background())
		requireRestored(t, cs)
	})

	var out syncBuffer
	cmd := exec.Command(bin, "run", "--kubeconfig", kubeconfig, "--report-dir", t.TempDir(),
		filepath.Join("..", "drills", "examples", "network-partition-weekly.yaml"))
	cmd.Stderr, cmd.Stdout = &out, &out
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	require.Eventually(t, func() bool { return strings.Contains(out.String(), " injected: ") }, 3*time.Minute, 100*time.Millisecond,
		"the partition goes in: %s", &out)

	abort := exec.Command(bin, "abort", "--kubeconfig", kubeconfig, "--reason", "TestAbortStopsPartitionDrill")
	start := time.Now()
	msg, err := abort.CombinedOutput()
	require.NoError(t, err, "%s", msg)
	require.Contains(t, string(msg), "kill switch default/firedrill-abort set")
	require.Eventually(t, func() bool { return strings.Contains(out.String(), "removed (teardown)") }, 5*time.Second, 50*time.Millisecond,
		"the partition is removed within 5 s of firedrill abort: %s", &out)
	t.Logf("partition removed %s after firedrill abort returned", time.Since(start).Round(10*time.Millisecond))

	select {
	case err = <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("firedrill run did not end after the abort: %s", &out)
	}
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", &out)
	require.Equal(t, 2, ee.ExitCode(), "an aborted drill is inconclusive: %s", &out)
	require.Contains(t, out.String(), "aborted: kill switch default/firedrill-abort set by")
	require.Contains(t, out.String(), "TestAbortStopsPartitionDrill")

	status := exec.Command(bin, "abort", "--kubeconfig", kubeconfig, "--status")
	msg, err = status.CombinedOutput()
	require.ErrorAs(t, err, &ee, "%s", msg)
	require.Equal(t, 1, ee.ExitCode(), "--status: set")

	// While the switch is set, no drill starts.
	d := loadExample(t, "pod-kill.yaml")
	res, err := runner.New(cs, runner.WithLogger(stacktest.Logger())).Run(context.Background(), d)
	require.NoError(t, err)
	require.Equal(t, drills.VerdictInconclusive, res.Verdict, res.Reason)
	require.Contains(t, res.Reason, "aborted")
	require.Zero(t, kinds(res)[drills.EventFault], "nothing injected")

	msg, err = exec.Command(bin, "abort", "--kubeconfig", kubeconfig, "--clear").CombinedOutput()
	require.NoError(t, err, "%s", msg)
	require.Contains(t, string(msg), "lifted")
}

// TestDryRunPreviewsPartition: firedrill run --dry-run on the weekly
// partition drill passes preflight, names the payment pods the partition
// would pick from, injects nothing and exits 0; the Deployment is left as
// it was.
func TestDryRunPreviewsPartition(t *testing.T) {
	st, cs := stackClient(t)
	bin := buildCLI(t)
	before, err := cs.AppsV1().Deployments(stack.Namespace).Get(context.Background(), stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)

	out, err := exec.Command(bin, "run", "--dry-run", "-q", "--kubeconfig", st.Cluster().Kubeconfig(), "--report-dir", t.TempDir(),
		filepath.Join("..", "drills", "examples", "network-partition-weekly.yaml")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	t.Logf("firedrill run --dry-run:\n%s", out)
	require.Contains(t, string(out), "network-partition-weekly: SKIPPED — dry run: preflight passed, nothing injected")
	require.Regexp(t, `mode one of the [1-9][0-9]* pod\(s\) matching app=payment in firedrill-demo: payment-`, string(out))
	require.NotContains(t, string(out), " injected: ")

	after, err := cs.AppsV1().Deployments(stack.Namespace).Get(context.Background(), stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, before.Generation, after.Generation, "the Deployment was not changed")
}

// TestOptOutNamespaceRefusedTouchesNothing: a drill against a namespace
// without the opt-in label is refused in preflight, and nothing is made
// or changed there.
func TestOptOutNamespaceRefusedTouchesNothing(t *testing.T) {
	_, cs := stackClient(t)
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "fd-optout"}}
	_, err := cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{}) })
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns.Name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To[int32](1),
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "web", Image: images.PauseImage, ImagePullPolicy: corev1.PullNever,
				}}},
			},
		},
	}
	dep, err = cs.AppsV1().Deployments(ns.Name).Create(ctx, dep, metav1.CreateOptions{})
	require.NoError(t, err)

	d := loadExample(t, "pod-kill.yaml")
	d.Spec.Target.Namespace, d.Spec.Target.Name = ns.Name, "web"
	d.Spec.Faults[0].Selector.Labels = map[string]string{"app": "web"}
	res, err := runner.New(cs, runner.WithLogger(stacktest.Logger())).Run(ctx, d)
	require.NoError(t, err)
	require.NotEqual(t, drills.VerdictPassed, res.Verdict)
	require.Contains(t, res.Reason, "namespace fd-optout is not labelled firedrill.dev/drills=enabled")
	require.Contains(t, res.Reason, "kubectl label namespace fd-optout firedrill.dev/drills=enabled")
	require.Zero(t, kinds(res)[drills.EventFault], "nothing injected")

	after, err := cs.AppsV1().Deployments(ns.Name).Get(ctx, "web", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, dep.Generation, after.Generation, "the Deployment was not changed")
	require.Equal(t, dep.Annotations, after.Annotations, "no firedrill record on it")
	cms, err := cs.CoreV1().ConfigMaps(ns.Name).List(ctx, metav1.ListOptions{})
	require.NoError(t, err)
	for _, cm := range cms.Items {
		require.Equal(t, "kube-root-ca.crt", cm.Name, "nothing made in the namespace")
	}
}

// TestHostNetworkPodRefusedAsPartitionTarget: a partition whose selector
// matches a hostNetwork pod is refused before anything goes in: inside
// that pod it would cut the node off.
func TestHostNetworkPodRefusedAsPartitionTarget(t *testing.T) {
	_, cs := stackClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "fd-hostnet", Namespace: stack.Namespace, Labels: map[string]string{"app": "fd-hostnet"}},
		Spec: corev1.PodSpec{HostNetwork: true, Containers: []corev1.Container{{
			Name: "idle", Image: images.PauseImage, ImagePullPolicy: corev1.PullNever,
		}}},
	}
	_, err := cs.CoreV1().Pods(stack.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.CoreV1().Pods(stack.Namespace).Delete(context.Background(), pod.Name, metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)})
	})

	d := loadExample(t, "network-partition-weekly.yaml")
	d.Spec.Faults[0].Selector.Labels = map[string]string{"app": "fd-hostnet"}
	res, err := runner.New(cs, runner.WithLogger(stacktest.Logger())).Run(ctx, d)
	require.NoError(t, err)
	require.NotEqual(t, drills.VerdictPassed, res.Verdict)
	require.Contains(t, res.Reason, "fd-hostnet")
	require.Contains(t, res.Reason, "hostNetwork")
	require.Zero(t, kinds(res)[drills.EventFault], "nothing injected")
	requireRestored(t, cs)
}

// TestReplicaChangeDuringDrillSurvivesTeardown: an HPA-style scale of the
// target while a bad-image drill runs is not undone by teardown, which
// puts back only what the drill wrote (the pod template) and reports the
// replicas as left as found.
func TestReplicaChangeDuringDrillSurvivesTeardown(t *testing.T) {
	_, cs := stackClient(t)
	ctx := context.Background()
	scaleTo := func(n int32) error {
		sc, err := cs.AppsV1().Deployments(stack.Namespace).GetScale(ctx, stack.Deployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		sc.Spec.Replicas = n
		_, err = cs.AppsV1().Deployments(stack.Namespace).UpdateScale(ctx, stack.Deployment, sc, metav1.UpdateOptions{})
		return err
	}
	before, err := cs.AppsV1().Deployments(stack.Namespace).Get(ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	orig := *before.Spec.Replicas
	t.Cleanup(func() {
		require.NoError(t, scaleTo(orig))
		requireRestored(t, cs)
	})

	var once sync.Once
	scaled := make(chan error, 1)
	d := loadExample(t, "bad-image.yaml")
	res, err := runner.New(cs, runner.WithLogger(stacktest.Logger()), runner.WithProgress(func(p runner.Progress) {
		if p.Phase == "observe" {
			once.Do(func() { go func() { scaled <- scaleTo(orig + 1) }() })
		}
	})).Run(ctx, d)
	require.NoError(t, err)
	logResult(t, res)
	select {
	case err := <-scaled:
		require.NoError(t, err, "the HPA-style scale")
	default:
		t.Fatal("the drill never reached observe")
	}
	after, err := cs.AppsV1().Deployments(stack.Namespace).Get(ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, orig+1, *after.Spec.Replicas, "the scale made during the drill survives teardown")
	require.Equal(t, "payment:v1", after.Spec.Template.Spec.Containers[0].Image, "the template the drill wrote is put back")
	var left []string
	for _, e := range res.Events {
		if strings.Contains(e.Message, "as found") {
			left = append(left, e.Message)
		}
	}
	require.NotEmpty(t, left, "the report says what teardown left as found")
	require.Contains(t, strings.Join(left, "\n"), fmt.Sprintf("replicas %d (%d before the drill)", orig+1, orig))
}
