package scenarios

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
)

// The integration tests share ONE demo stack (payment v1, 3 replicas in
// firedrill-demo on the local cluster): the first test that needs it
// brings it up, TestMain takes it down. Each test leaves payment:v1 with
// its 3 pods available.

const itCluster = "fdscen"

var shared = &stacktest.Shared{Name: itCluster, SourceDir: ".."}

var demoTarget = drills.Target{Namespace: stack.Namespace, Name: stack.Deployment}

// demoCluster returns a client of the running demo stack, bringing it up
// on first use, or skips t where it cannot run.
func demoCluster(t *testing.T) kubernetes.Interface {
	t.Helper()
	st := shared.Stack(t)
	cfg, err := st.Cluster().RESTConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cs
}

func TestMain(m *testing.M) { shared.Main(m) }

func itDeps(t *testing.T, cs kubernetes.Interface) Deps {
	return Deps{Client: cs, Owner: "it-" + strings.ToLower(t.Name()), Logger: stacktest.Logger()}
}

// readyPods waits until the Deployment is rolled out and returns its 3
// Running, Ready pods.
func readyPods(ctx context.Context, t *testing.T, cs kubernetes.Interface) []corev1.Pod {
	t.Helper()
	require.NoError(t, stack.WaitAvailable(ctx, cs, stack.Namespace, stack.Deployment, 2*time.Minute))
	var pods []corev1.Pod
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		list, err := cs.CoreV1().Pods(stack.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "app=payment,track=stable"})
		if err != nil {
			return false, nil
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && podReady(&p) && p.Status.PodIP != "" {
				pods = append(pods, p)
			}
		}
		return len(pods) == len(list.Items) && len(pods) == 3, nil
	})
	require.NoError(t, err, "3 ready payment pods, have %d", len(pods))
	return pods
}

// get does one HTTP GET of the pod's /healthz with a short timeout.
func get(ip string) error {
	code, err := getCode(ip, "/healthz")
	if err == nil && code != http.StatusOK {
		err = fmt.Errorf("status %d", code)
	}
	return err
}

// getCode does one HTTP GET of path on the pod and returns the status.
func getCode(ip, path string) (int, error) {
	c := &http.Client{Timeout: 700 * time.Millisecond, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get("http://" + net.JoinHostPort(ip, "8080") + path)
	if err != nil {
		return 0, err
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

// requireClean asserts that no network fault is left in any pod.
func requireClean(ctx context.Context, t *testing.T, pods []corev1.Pod) {
	t.Helper()
	for _, p := range pods {
		pid, err := ProcNetns{}.PID(ctx, &p)
		require.NoError(t, err)
		out, err := netnsCmd{pid: pid, name: "iptables", args: []string{"-w", "-S"}}.run(ctx, ExecRunner{})
		require.NoError(t, err)
		require.NotContains(t, out, Chain, "pod %s", p.Name)
		out, err = netnsCmd{pid: pid, name: "tc", args: []string{"qdisc", "show"}}.run(ctx, ExecRunner{})
		require.NoError(t, err)
		require.NotContains(t, out, "tbf "+tbfHandle, "pod %s", p.Name)
	}
}

func injectReady(ctx context.Context, t *testing.T, f Fault) *Injection {
	t.Helper()
	inj, err := f.Inject(ctx)
	require.NoError(t, err)
	t.Cleanup(func() { _ = f.Remove(context.WithoutCancel(ctx)) })
	return inj
}

func waitEffective(ctx context.Context, t *testing.T, f Fault, timeout time.Duration) Status {
	t.Helper()
	var st Status
	err := wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		var err error
		st, err = f.Status(ctx)
		return err == nil && st.Effective, nil
	})
	require.NoError(t, err, "fault never effective: %s %v", st.Message, st.Evidence)
	t.Logf("status: %s", st.Message)
	return st
}

func TestIntegrationPodKill(t *testing.T) {
	cs := demoCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	readyPods(ctx, t, cs)
	grace, seed := int64(0), int64(11)
	f, err := NewNativeRegistry(itDeps(t, cs)).Build(ctx, drills.Fault{Type: drills.FaultPodKill, Seed: &seed, PodKill: &drills.PodKillSettings{GracePeriodSeconds: &grace}}, demoTarget)
	require.NoError(t, err)
	inj := injectReady(ctx, t, f)
	require.Len(t, inj.Targets, 1)
	killed := inj.Targets[0]
	waitEffective(ctx, t, f, time.Minute)
	p, err := cs.CoreV1().Pods(killed.Namespace).Get(ctx, killed.Name, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err) || string(p.UID) != killed.UID, "killed pod %s (uid %s) still there", killed.Name, killed.UID)
	require.NoError(t, f.Remove(ctx))
	for _, p := range readyPods(ctx, t, cs) {
		require.NotEqual(t, killed.UID, string(p.UID))
	}
}

func TestIntegrationNetworkPartition(t *testing.T) {
	cs := demoCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods := readyPods(ctx, t, cs)
	for _, p := range pods {
		require.NoError(t, get(p.Status.PodIP), "pod %s answers before the fault", p.Name)
	}
	seed := int64(5)
	deps := itDeps(t, cs)
	deps.Traffic = startProbe(ctx, t, cs, "/healthz", 100*time.Millisecond)
	f, err := NewNativeRegistry(deps).Build(ctx, drills.Fault{Type: drills.FaultNetworkPartition, Seed: &seed}, demoTarget)
	require.NoError(t, err)
	inj := injectReady(ctx, t, f)
	require.Len(t, inj.Targets, 1)
	hit := inj.Targets[0]
	st := waitEffective(ctx, t, f, 10*time.Second)
	require.Contains(t, st.Message, "traffic to pod "+hit.Name+" ("+hit.IP+") since the fault")
	require.Contains(t, st.Message, "none succeeded")
	// Keep the partition short: the pod's liveness probe (3 x 2 s) would
	// restart its container.
	require.Error(t, get(hit.IP), "partitioned pod %s must not answer", hit.Name)
	for _, p := range pods {
		if p.Name != hit.Name {
			require.NoError(t, get(p.Status.PodIP), "pod %s is not partitioned", p.Name)
		}
	}
	require.NoError(t, f.Remove(ctx))
	err = wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return get(hit.IP) == nil, nil
	})
	require.NoError(t, err, "pod %s answers again after Remove", hit.Name)
	requireClean(ctx, t, pods)
}

func TestIntegrationNetworkLoss(t *testing.T) {
	cs := demoCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods := readyPods(ctx, t, cs)
	seed := int64(6)
	deps := itDeps(t, cs)
	deps.Traffic = startProbe(ctx, t, cs, "/healthz", 100*time.Millisecond)
	f, err := NewNativeRegistry(deps).Build(ctx, drills.Fault{Type: drills.FaultNetworkLoss, Seed: &seed,
		Network: &drills.NetworkSettings{LossPercent: 50}}, demoTarget)
	require.NoError(t, err)
	inj := injectReady(ctx, t, f)
	hit := inj.Targets[0]
	st := waitEffective(ctx, t, f, 20*time.Second)
	require.Contains(t, st.Message, "configured 50.0%")
	// A TCP connect needs the pod's SYN-ACK: with half of its packets
	// dropped about half the connects miss a short deadline.
	const n = 60
	failed := 0
	for range n {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(hit.IP, "8080"), 250*time.Millisecond)
		if err != nil {
			failed++
			continue
		}
		_ = c.Close()
	}
	share := float64(failed) / n
	t.Logf("50%% loss on %s: %d of %d connects failed (%.0f%%)", hit.Name, failed, n, 100*share)
	require.NoError(t, f.Remove(ctx))
	require.InDelta(t, 0.5, share, 0.25, "share of failed connects")
	for range 10 {
		c, err := net.DialTimeout("tcp", net.JoinHostPort(hit.IP, "8080"), time.Second)
		require.NoError(t, err, "connects succeed after Remove")
		_ = c.Close()
	}
	requireClean(ctx, t, pods)
}

func TestIntegrationBandwidthAndSweep(t *testing.T) {
	cs := demoCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	pods := readyPods(ctx, t, cs)
	deps := itDeps(t, cs)
	bw, err := NewNativeRegistry(deps).Build(ctx, drills.Fault{Type: drills.FaultBandwidth, Network: &drills.NetworkSettings{Rate: "1mbit"}}, demoTarget)
	require.NoError(t, err)
	inj0 := injectReady(ctx, t, bw)
	// The limit shows in tc's counters only once the pod sends more than
	// the bucket holds: a burst of concurrent requests.
	var wg sync.WaitGroup
	for range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = getCode(inj0.Targets[0].IP, "/accounts")
		}()
	}
	wg.Wait()
	st := waitEffective(ctx, t, bw, 10*time.Second)
	require.Contains(t, st.Message, "tc -s qdisc: the tbf qdisc on")
	require.NoError(t, bw.Remove(ctx))
	requireClean(ctx, t, pods)

	// A crashed run: a partition on every pod, never removed. The sweeper
	// deletes the chains and the pods answer again.
	part, err := NewNativeRegistry(deps).Build(ctx, drills.Fault{Type: drills.FaultNetworkPartition, Selector: &drills.Selector{Mode: drills.ModeAll}}, demoTarget)
	require.NoError(t, err)
	inj := injectReady(ctx, t, part)
	require.Len(t, inj.Targets, 3)
	require.Error(t, get(inj.Targets[0].IP))
	done, err := NewSweeper(deps).Sweep(ctx, SweepOptions{Namespace: stack.Namespace, Owner: deps.Owner, Network: true})
	require.NoError(t, err)
	require.Len(t, done, 3, "%v", done)
	requireClean(ctx, t, pods)
	for _, p := range pods {
		err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 20*time.Second, true, func(context.Context) (bool, error) {
			return get(p.Status.PodIP) == nil, nil
		})
		require.NoError(t, err, "pod %s answers after the sweep", p.Name)
	}
	require.NoError(t, part.Remove(ctx), "Remove after a sweep finds nothing to undo and does not fail")
}

func TestIntegrationBadImage(t *testing.T) {
	cs := demoCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	readyPods(ctx, t, cs)
	deps := itDeps(t, cs)
	deps.Traffic = startProbe(ctx, t, cs, "/balances/1", 100*time.Millisecond)
	f, err := NewNativeRegistry(deps).Build(ctx, drills.Fault{Type: drills.FaultBadImage, BadImage: &drills.BadImageSettings{Image: "payment:v2-buggy"}}, demoTarget)
	require.NoError(t, err)
	injectReady(ctx, t, f)
	st := waitEffective(ctx, t, f, 90*time.Second)
	require.Contains(t, st.Message, "pods answered the drill's requests")
	// Let the bad release roll out fully: every pod runs it.
	for _, p := range readyPods(ctx, t, cs) {
		require.Equal(t, "payment:v2-buggy", p.Spec.Containers[0].Image, "pod %s", p.Name)
	}
	st, err = f.Status(ctx)
	require.NoError(t, err)
	require.True(t, st.Effective)
	require.Contains(t, st.Message, "the revision running payment:v2-buggy")
	require.Contains(t, st.Message, "became ready")
	require.NoError(t, f.Remove(ctx))
	for _, p := range readyPods(ctx, t, cs) {
		require.Equal(t, "payment:v1", p.Spec.Containers[0].Image, "pod %s after Remove", p.Name)
	}
	dep, err := cs.AppsV1().Deployments(stack.Namespace).Get(ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	require.NotContains(t, dep.Annotations, AnnotationBadImage)
	require.NotContains(t, dep.Annotations, AnnotationOwner)
}

func TestIntegrationDataCorruption(t *testing.T) {
	c := demoCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	pg, err := shared.Stack(t).Postgres()
	require.NoError(t, err)
	require.NoError(t, pg.Start(ctx), "reuses the running server and loads its password")
	t.Setenv("FIREDRILL_IT_DSN", pg.DSN())
	conn, err := pgx.Connect(ctx, pg.DSN())
	require.NoError(t, err)
	defer func() { _ = conn.Close(context.Background()) }()
	sum := func() int64 {
		var s int64
		require.NoError(t, conn.QueryRow(ctx, "SELECT COALESCE(sum(balance), 0) FROM accounts").Scan(&s))
		return s
	}
	before := sum()
	f, err := NewNativeRegistry(itDeps(t, c)).Build(ctx, drills.Fault{Type: drills.FaultDataCorruption, DataCorruption: &drills.DataCorruptionSettings{
		DSN:     "${FIREDRILL_IT_DSN}",
		SQL:     "UPDATE accounts SET balance = balance + 1000 WHERE id = (SELECT min(id) FROM accounts)",
		UndoSQL: "UPDATE accounts SET balance = balance - 1000 WHERE id = (SELECT min(id) FROM accounts)",
	}}, demoTarget)
	require.NoError(t, err)
	injectReady(ctx, t, f)
	st := waitEffective(ctx, t, f, 5*time.Second)
	require.Equal(t, "the statement changed 1 rows (the drill has no consistency check nor undoIf to re-read them)", st.Message)
	require.Equal(t, before+1000, sum())
	require.NoError(t, f.Remove(ctx))
	require.Equal(t, before, sum(), "undoSQL ran")

	// With undoIf, a corruption repaired before teardown is not undone again.
	for _, repaired := range []bool{false, true} {
		f, err := NewNativeRegistry(itDeps(t, c)).Build(ctx, drills.Fault{Type: drills.FaultDataCorruption, DataCorruption: &drills.DataCorruptionSettings{
			DSN:     "${FIREDRILL_IT_DSN}",
			SQL:     "UPDATE accounts SET balance = balance + 1000 WHERE id = (SELECT min(id) FROM accounts)",
			UndoSQL: "UPDATE accounts SET balance = balance - 1000 WHERE id = (SELECT min(id) FROM accounts)",
			UndoIf:  fmt.Sprintf("SELECT COALESCE(sum(balance), 0) <> %d FROM accounts", before),
		}}, demoTarget)
		require.NoError(t, err)
		injectReady(ctx, t, f)
		waitEffective(ctx, t, f, 5*time.Second)
		require.Equal(t, before+1000, sum())
		if repaired {
			_, err := conn.Exec(ctx, "UPDATE accounts SET balance = balance - 1000 WHERE id = (SELECT min(id) FROM accounts)")
			require.NoError(t, err)
		}
		require.NoError(t, f.Remove(ctx))
		require.Equal(t, before, sum(), "repaired before teardown: %v", repaired)
	}
}

func TestIntegrationBadConfig(t *testing.T) {
	cs := demoCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for _, p := range readyPods(ctx, t, cs) {
		code, err := getCode(p.Status.PodIP, "/accounts")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "pod %s before the push", p.Name)
	}
	f, err := NewNativeRegistry(itDeps(t, cs)).Build(ctx, drills.Fault{Type: drills.FaultBadConfig, BadConfig: &drills.BadConfigSettings{
		ConfigMap: "payment-config", Data: map[string]string{"LEDGER_MODE": "broken"},
	}}, demoTarget)
	require.NoError(t, err)
	injectReady(ctx, t, f)
	waitEffective(ctx, t, f, 90*time.Second)
	// The pushed config reaches every pod of the new template: ledger
	// requests fail while the pods stay Ready.
	for _, p := range readyPods(ctx, t, cs) {
		code, err := getCode(p.Status.PodIP, "/accounts")
		require.NoError(t, err)
		require.Equal(t, http.StatusServiceUnavailable, code, "pod %s with the bad config", p.Name)
	}
	require.NoError(t, f.Remove(ctx))
	// Remove rolled again: wait for the new template, then the old config.
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 300*time.Millisecond, 90*time.Second, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(stack.Namespace).Get(ctx, stack.Deployment, metav1.GetOptions{})
		return err == nil && d.Status.ObservedGeneration >= d.Generation, nil
	}))
	for _, p := range readyPods(ctx, t, cs) {
		code, err := getCode(p.Status.PodIP, "/accounts")
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, code, "pod %s after Remove", p.Name)
	}
	cm, err := cs.CoreV1().ConfigMaps(stack.Namespace).Get(ctx, "payment-config", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "normal", cm.Data["LEDGER_MODE"])
	require.NotContains(t, cm.Annotations, AnnotationBadConfig)
}
