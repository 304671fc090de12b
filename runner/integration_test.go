package runner_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/clusters/images"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
	"github.com/firedrill/firedrill/scenarios"
)

// shared is the demo stack of this test binary.
var shared = &stacktest.Shared{Name: "fdrun", SourceDir: ".."}

func TestMain(m *testing.M) { shared.Main(m) }

// stackClient returns a client of the shared stack and sets
// FIREDRILL_LEDGER_DSN for the drills' SQL checks.
func stackClient(t *testing.T) (*stack.Stack, kubernetes.Interface) {
	t.Helper()
	st := shared.Stack(t)
	cfg, err := st.Cluster().RESTConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	dsn, err := st.LedgerDSN()
	require.NoError(t, err)
	t.Setenv("FIREDRILL_LEDGER_DSN", dsn)
	return st, cs
}

func loadExample(t *testing.T, name string) *drills.Drill {
	t.Helper()
	ds, err := drills.LoadFile(filepath.Join("..", "drills", "examples", name))
	require.NoError(t, err)
	require.Len(t, ds, 1)
	return ds[0]
}

// requireRestored checks the target is back to payment:v1, available, with
// its Service selecting app=payment.
func requireRestored(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, stack.WaitAvailable(ctx, cs, stack.Namespace, stack.Deployment, time.Minute))
	dep, err := cs.AppsV1().Deployments(stack.Namespace).Get(ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "payment:v1", dep.Spec.Template.Spec.Containers[0].Image)
	require.False(t, dep.Spec.Paused)
	svc, err := cs.CoreV1().Services(stack.Namespace).Get(ctx, stack.Service, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]string{"app": "payment"}, svc.Spec.Selector)
}

func kinds(r *drills.Result) map[drills.EventKind]int {
	m := map[drills.EventKind]int{}
	for _, e := range r.Events {
		m[e.Kind]++
	}
	return m
}

func check(t *testing.T, r *drills.Result, name string) drills.Check {
	t.Helper()
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	t.Fatalf("no check %q in %+v", name, r.Checks)
	return drills.Check{}
}

// TestRunBadImageDrill runs the shipped bad-image drill end to end: the
// engine reverts payment:v2-buggy, the SLOs and the ledger hold again, and
// every expectation passes.
func TestRunBadImageDrill(t *testing.T) {
	_, cs := stackClient(t)
	d := loadExample(t, "bad-image.yaml")
	var progress []runner.Progress
	r := runner.New(cs, runner.WithProgress(func(p runner.Progress) { progress = append(progress, p) }),
		runner.WithLogger(stacktest.Logger()))
	res, err := r.Run(context.Background(), d)
	require.NoError(t, err)
	logResult(t, res)
	require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
	require.NotNil(t, res.MTTD)
	require.NotNil(t, res.MTTR)
	require.Less(t, res.MTTD.Duration, res.MTTR.Duration)
	k := kinds(res)
	for _, want := range []drills.EventKind{drills.EventFault, drills.EventProof, drills.EventDetection, drills.EventDecision, drills.EventAction} {
		require.Positive(t, k[want], "event %s in the timeline", want)
	}
	require.Equal(t, drills.VerdictPassed, check(t, res, "expect strategy").Verdict)
	require.Equal(t, "revert", check(t, res, "expect strategy").Observed)
	// The proof names the bad revision's pods and what each answered.
	var proof []drills.Check
	for _, c := range res.Checks {
		if c.Kind == drills.CheckProof {
			proof = append(proof, c)
		}
	}
	require.Len(t, proof, 1)
	require.Equal(t, drills.VerdictPassed, proof[0].Verdict)
	require.Contains(t, proof[0].Observed, "pods answered the drill's requests")
	require.Regexp(t, `pod payment-\S+ of ReplicaSet payment-\S+ \(\d+\.\d+\.\d+\.\d+\): answered`, proof[0].Observed)
	// The guard could see: every signal unit evaluated during the fault.
	require.NotEmpty(t, res.GuardCoverage)
	require.Equal(t, drills.VerdictPassed, res.Verdict)
	require.NotEmpty(t, res.Audit, "the engine's audit rows are in the result")
	require.Equal(t, "payment:v2-buggy", res.Audit[0].FromVersion)
	var traffic, prom int
	for _, s := range res.Timeline {
		if s.Source == drills.SourceTraffic {
			traffic++
		} else {
			prom++
		}
	}
	require.Greater(t, traffic, 20, "a sample a second from the generator")
	require.Greater(t, prom, 20, "a sample a second from Prometheus")
	require.Len(t, res.Phases, len(runner.Phases()))
	for _, p := range res.Phases {
		require.Equal(t, drills.VerdictPassed, p.Verdict, "phase %s: %s", p.Name, p.Message)
	}
	require.NotEmpty(t, progress)
	requireRestored(t, cs)
}

// TestRunUnguardedDrillFails runs the bad-image drill with the engine
// disabled: nothing rolls the release back, so the verdict is failed, and
// teardown still puts payment:v1 back.
func TestRunUnguardedDrillFails(t *testing.T) {
	_, cs := stackClient(t)
	d := loadExample(t, "bad-image.yaml")
	d.Spec.Timeouts.Observe = drills.D(20 * time.Second)
	d.Spec.Timeouts.Verify = drills.D(20 * time.Second)
	res, err := runner.New(cs, runner.WithoutGuard(), runner.WithLogger(stacktest.Logger())).Run(context.Background(), d)
	require.NoError(t, err)
	logResult(t, res)
	require.Equal(t, drills.VerdictFailed, res.Verdict, res.Reason)
	require.False(t, res.GuardEnabled)
	require.Equal(t, drills.VerdictFailed, check(t, res, "expect rollback").Verdict)
	require.Equal(t, drills.VerdictFailed, check(t, res, "slo error rate").Verdict)
	require.NotNil(t, res.MTTD, "with the engine off, MTTD is the first SLO breach")
	require.Nil(t, res.MTTR)
	requireRestored(t, cs)
}

// TestRunBaselineFailsIsInconclusive gives the drill a p99 bound no real
// request meets: the baseline cannot hold, so the drill is inconclusive
// and no fault goes in.
func TestRunBaselineFailsIsInconclusive(t *testing.T) {
	_, cs := stackClient(t)
	d := loadExample(t, "bad-image.yaml")
	d.Spec.SLO.P99 = drills.D(time.Microsecond)
	d.Spec.Timeouts.Baseline = drills.D(20 * time.Second)
	res, err := runner.New(cs, runner.WithLogger(stacktest.Logger())).Run(context.Background(), d)
	require.NoError(t, err)
	logResult(t, res)
	require.Equal(t, drills.VerdictInconclusive, res.Verdict)
	require.Contains(t, res.Reason, "did not hold before any fault")
	require.Zero(t, kinds(res)[drills.EventFault], "no fault injected")
	requireRestored(t, cs)
}

// TestRunSIGTERMDuringObserve runs `firedrill run` on the unguarded
// bad-image drill, sends SIGTERM once it observes, and checks that the
// process removed the fault and put the target back before exiting.
func TestRunSIGTERMDuringObserve(t *testing.T) {
	st, cs := stackClient(t)
	bin := buildCLI(t)

	var stderr syncBuffer
	cmd := exec.Command(bin, "run", "--no-guard", "--kubeconfig", st.Cluster().Kubeconfig(),
		"--report-dir", t.TempDir(), filepath.Join("..", "drills", "examples", "bad-image.yaml"))
	cmd.Stderr = &stderr
	cmd.Stdout = &stderr
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	require.Eventually(t, func() bool { return strings.Contains(stderr.String(), "observe") }, 2*time.Minute, 200*time.Millisecond,
		"the drill reaches observe: %s", &stderr)
	require.Eventually(t, func() bool {
		dep, err := cs.AppsV1().Deployments(stack.Namespace).Get(context.Background(), stack.Deployment, metav1.GetOptions{})
		return err == nil && dep.Spec.Template.Spec.Containers[0].Image == "payment:v2-buggy"
	}, time.Minute, 200*time.Millisecond, "the fault is in")
	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	var err error
	select {
	case err = <-done:
	case <-time.After(3 * time.Minute):
		_ = cmd.Process.Kill()
		t.Fatalf("firedrill run did not exit after SIGTERM: %s", &stderr)
	}
	t.Logf("firedrill run after SIGTERM: %v\n%s", err, &stderr)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode(), "an interrupted drill could not be judged")
	require.Contains(t, stderr.String(), "removed (teardown)")
	requireRestored(t, cs)
}

// buildCLI builds the firedrill command for the tests that run it.
func buildCLI(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "firedrill")
	build := exec.Command("go", "build", "-o", bin, "./cmd/firedrill")
	build.Dir = ".."
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)
	return bin
}

// TestRunSIGKILLLeftoverIsSweptAtNextStart kills a drill with SIGKILL while
// its fault is in (no teardown can run), then requires the next run of the
// drill to remove the leftover before it starts, and to pass.
func TestRunSIGKILLLeftoverIsSweptAtNextStart(t *testing.T) {
	st, cs := stackClient(t)
	bin := buildCLI(t)
	drill := filepath.Join("..", "drills", "examples", "bad-image.yaml")

	var first syncBuffer
	cmd := exec.Command(bin, "run", "--no-guard", "--kubeconfig", st.Cluster().Kubeconfig(), "--report-dir", t.TempDir(), drill)
	cmd.Stdout, cmd.Stderr = &first, &first
	require.NoError(t, cmd.Start())
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	require.Eventually(t, func() bool {
		dep, err := cs.AppsV1().Deployments(stack.Namespace).Get(context.Background(), stack.Deployment, metav1.GetOptions{})
		return err == nil && dep.Spec.Template.Spec.Containers[0].Image == "payment:v2-buggy"
	}, 2*time.Minute, 200*time.Millisecond, "the fault is in: %s", &first)
	require.NoError(t, cmd.Process.Signal(syscall.SIGKILL))
	<-done
	dep, err := cs.AppsV1().Deployments(stack.Namespace).Get(context.Background(), stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "payment:v2-buggy", dep.Spec.Template.Spec.Containers[0].Image, "SIGKILL left the fault in")
	require.Contains(t, dep.Annotations, scenarios.AnnotationOwner, "the leftover carries its owner")

	var second syncBuffer
	next := exec.Command(bin, "run", "--kubeconfig", st.Cluster().Kubeconfig(), "--report-dir", t.TempDir(), drill)
	next.Stdout, next.Stderr = &second, &second
	err = next.Run()
	t.Logf("the next run:\n%s", &second)
	require.NoError(t, err, "the next run passes")
	require.Contains(t, second.String(), "removed a fault left by an earlier run")
	requireRestored(t, cs)
}

func logResult(t *testing.T, r *drills.Result) {
	t.Helper()
	t.Logf("%s: %s %s (MTTD %v, MTTR %v)", r.Drill, r.Verdict, r.Reason, r.MTTD, r.MTTR)
	for _, p := range r.Phases {
		t.Logf("  phase %-9s %-12s %8s %s", p.Name, p.Verdict, p.Duration.Duration.Round(time.Millisecond), p.Message)
	}
	for _, e := range r.Events {
		t.Logf("  %s %-16s %s", e.Time.Format("15:04:05.000"), e.Kind, e.Message)
	}
	for _, c := range r.Checks {
		t.Logf("  [%s] %s: expected %s, observed %s", c.Verdict, c.Name, c.Expected, c.Observed)
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestRunShippedDrills runs the other shipped drills end to end on the
// demo stack and requires each to pass: a bad config push switched back by
// the engine, a pod kill the Deployment heals by itself, a partitioned pod
// traffic routes around (its five minutes cut to 20 s here), and a
// corrupted ledger the engine restores.
func TestRunShippedDrills(t *testing.T) {
	st, cs := stackClient(t)
	for _, file := range []string{"bad-config.yaml", "pod-kill.yaml", "network-partition-weekly.yaml", "data-corruption.yaml", "corrupt-release.yaml"} {
		t.Run(strings.TrimSuffix(file, ".yaml"), func(t *testing.T) {
			if file == "bad-config.yaml" { // pushes to the canary track
				cfg, err := st.Cluster().RESTConfig()
				require.NoError(t, err)
				ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
				defer cancel()
				require.NoError(t, stack.InstallCanary(ctx, cfg, 2*time.Minute))
				t.Cleanup(func() {
					ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
					defer cancel()
					require.NoError(t, stack.RemoveCanary(ctx, cfg, time.Minute))
				})
			}
			d := loadExample(t, file)
			for i := range d.Spec.Faults {
				if d.Spec.Faults[i].Duration != nil {
					d.Spec.Faults[i].Duration = drills.D(20 * time.Second)
				}
			}
			res, err := runner.New(cs, runner.WithLogger(stacktest.Logger())).Run(context.Background(), d)
			require.NoError(t, err)
			logResult(t, res)
			require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
			require.NotNil(t, res.MTTR)
			require.Positive(t, kinds(res)[drills.EventProof], "the fault was proven")
			if file == "corrupt-release.yaml" {
				// The revert stops the corruption, then the restore repairs
				// the ledger; both are audited (newest first) with the
				// incident's versions.
				var done []drills.AuditRecord
				var strategies []string
				for _, a := range res.Audit {
					if a.Success {
						done = append(done, a)
						strategies = append(strategies, a.Strategy)
					}
				}
				require.Equal(t, []string{"restore", "revert"}, strategies, "%+v", res.Audit)
				for _, a := range done {
					require.Equal(t, "payment:v2-corrupt", a.FromVersion)
					require.Equal(t, "payment:v1", a.ToVersion)
				}
				for _, a := range res.Audit {
					require.NotNil(t, a.EndTime)
					require.False(t, a.StartTime.Before(a.TriggerTime), "%+v", a)
					require.False(t, a.EndTime.Before(a.StartTime), "%+v", a)
				}
				require.True(t, done[0].StartTime.After(*done[1].EndTime), "the restore follows the revert: %+v", done)
			}
			requireRestored(t, cs)
		})
	}
}

// TestRunBlindGuardIsInconclusive runs the pod-kill drill guarded by a
// rule on a metric that does not exist: the guard can never judge, so the
// drill must end inconclusive (exit 2) before any fault goes in, and every
// report names the held rule and why it held.
func TestRunBlindGuardIsInconclusive(t *testing.T) {
	st, cs := stackClient(t)
	bin := buildCLI(t)
	src, err := os.ReadFile(filepath.Join("..", "drills", "examples", "pod-kill.yaml"))
	require.NoError(t, err)
	drill := strings.Replace(string(src), "  guard:\n", `  guard:
    rules:
      - name: NoSuchMetric
        expr: sum(rate(firedrill_no_such_metric_total{ {{.Scope}} }[1m]))
        threshold: 1
`, 1) + "  timeouts:\n    baseline: 40s\n"
	file := filepath.Join(t.TempDir(), "blind-pod-kill.yaml")
	require.NoError(t, os.WriteFile(file, []byte(drill), 0o644))

	dir := t.TempDir()
	var out syncBuffer
	cmd := exec.Command(bin, "run", "--kubeconfig", st.Cluster().Kubeconfig(), "--report-dir", dir, file)
	cmd.Stdout, cmd.Stderr = &out, &out
	err = cmd.Run()
	t.Logf("firedrill run:\n%s", &out)
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee)
	require.Equal(t, 2, ee.ExitCode(), "a blind guard is inconclusive")

	raw, err := os.ReadFile(filepath.Join(dir, "results.json"))
	require.NoError(t, err)
	var doc struct {
		Results []drills.Result `json:"results"`
	}
	require.NoError(t, json.Unmarshal(raw, &doc), "%s", raw)
	require.Len(t, doc.Results, 1)
	res := doc.Results[0]
	require.Equal(t, drills.VerdictInconclusive, res.Verdict, res.Reason)
	require.Contains(t, res.Reason, "rule NoSuchMetric")
	require.Zero(t, kinds(&res)[drills.EventFault], "no fault injected behind a blind guard")
	var held *drills.SignalCoverage
	for i := range res.GuardCoverage {
		if res.GuardCoverage[i].Unit == "rule NoSuchMetric" {
			held = &res.GuardCoverage[i]
		}
	}
	require.NotNil(t, held, "the held rule is in guardCoverage: %+v", res.GuardCoverage)
	require.Contains(t, string(raw), "no data", "the hold reason is in results.json")

	html, err := os.ReadFile(filepath.Join(dir, "report.html"))
	require.NoError(t, err)
	require.Contains(t, string(html), "rule NoSuchMetric")
	require.Contains(t, string(html), "no data")
	junit, err := os.ReadFile(filepath.Join(dir, "junit.xml"))
	require.NoError(t, err)
	require.Contains(t, string(junit), "<error")
	require.Contains(t, string(junit), "rule NoSuchMetric")
	requireRestored(t, cs)
}

// TestRunPartitionWithoutTrafficIsNotProven partitions a pod that the
// drill's traffic never reaches: its rules go in, but nothing shows that
// they hurt anything, so the fault is not proven and the drill is
// inconclusive rather than passed.
func TestRunPartitionWithoutTrafficIsNotProven(t *testing.T) {
	_, cs := stackClient(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	idle := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "fd-idle", Namespace: stack.Namespace, Labels: map[string]string{"app": "fd-idle"}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "idle", Image: images.PauseImage, ImagePullPolicy: corev1.PullNever,
		}}},
	}
	_, err := cs.CoreV1().Pods(stack.Namespace).Create(ctx, idle, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		zero := int64(0)
		_ = cs.CoreV1().Pods(stack.Namespace).Delete(context.Background(), idle.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero})
	})
	require.Eventually(t, func() bool {
		p, err := cs.CoreV1().Pods(stack.Namespace).Get(ctx, idle.Name, metav1.GetOptions{})
		return err == nil && p.Status.Phase == corev1.PodRunning && p.Status.PodIP != ""
	}, time.Minute, 250*time.Millisecond, "the idle pod runs")

	d := loadExample(t, "network-partition-weekly.yaml")
	d.Spec.Faults[0].Selector.Labels = map[string]string{"app": "fd-idle"}
	d.Spec.Faults[0].Duration = drills.D(20 * time.Second)
	d.Spec.Timeouts.Observe = drills.D(40 * time.Second)
	res, err := runner.New(cs, runner.WithLogger(stacktest.Logger())).Run(context.Background(), d)
	require.NoError(t, err)
	logResult(t, res)
	require.Equal(t, drills.VerdictInconclusive, res.Verdict, res.Reason)
	require.Zero(t, kinds(res)[drills.EventProof], "no proof of effect")
	var proof []drills.Check
	for _, c := range res.Checks {
		if c.Kind == drills.CheckProof {
			proof = append(proof, c)
		}
	}
	require.Len(t, proof, 1)
	require.Equal(t, drills.VerdictInconclusive, proof[0].Verdict)
	require.Contains(t, proof[0].Observed, "fd-idle")
	requireRestored(t, cs)
}
