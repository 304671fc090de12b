package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/polymorphichelpers"
	deploymentutil "k8s.io/kubectl/pkg/util/deployment"

	"github.com/firedrill/firedrill/clusters/internal/proc"
	"github.com/firedrill/firedrill/internal/testenv"
)

// The integration tests share ONE cluster for the package: the first test
// that needs it brings it up (so that `go test -run Unit` or the benchmark
// alone do not pay for it) and TestMain tears it down at the end and checks
// that nothing of it is left on the machine.

var shared struct {
	mu      sync.Mutex
	cluster *Cluster // nil until a test needs it, and after releaseShared
	err     error    // the error of the last attempt to create it
	skip    string
	chains  []string // iptables chains before the first cluster existed
}

// integrationSkipReason tells why the integration tests cannot run here, or
// "" if they can.
func integrationSkipReason() string {
	if os.Geteuid() != 0 {
		return "the local cluster integration tests need root"
	}
	if err := New().Preflight(); err != nil {
		return err.Error()
	}
	return ""
}

func testLogger() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	return slog.New(slog.DiscardHandler)
}

var machineLock struct {
	sync.Once
	// unlock is kept (and never called) so the lock is held until the
	// process exits.
	unlock func()
	err    error
}

// lockMachineForTests takes the machine-wide local cluster lock once for
// this test binary and holds it until the process exits: one local cluster
// per machine, and other test binaries wait for it.
func lockMachineForTests() error {
	machineLock.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		defer cancel()
		machineLock.unlock, machineLock.err = LockMachine(ctx)
		if machineLock.err == nil {
			// No cluster of ours exists yet: what is there now must
			// be there after every teardown.
			shared.chains = iptablesChains()
		}
	})
	return machineLock.err
}

// requireIntegration skips t unless the integration tests can run, and
// takes the machine lock.
func requireIntegration(t testing.TB) {
	t.Helper()
	testenv.Integration(t)
	if shared.skip != "" {
		testenv.Missing(t, shared.skip)
	}
	require.NoError(t, lockMachineForTests())
}

// shortHome returns a new home folder with a short path (the kubelet's unix
// sockets must fit in 108 bytes; t.TempDir paths can be too long), removed
// at the end of the test.
func shortHome(t testing.TB) string {
	t.Helper()
	home, err := os.MkdirTemp("", "fd")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(home) })
	return home
}

// testCluster returns the package's shared cluster, creating it on first
// use, or skips the test.
func testCluster(t testing.TB) *Cluster {
	t.Helper()
	requireIntegration(t)
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cluster == nil && shared.err == nil {
		home, err := os.MkdirTemp("", "fdtest")
		require.NoError(t, err)
		cl := New(WithName("fdtest"), WithHome(home), WithLogger(testLogger()), WithModuleDir(moduleRoot()))
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		start := time.Now()
		shared.err = cl.Create(ctx)
		fmt.Fprintf(os.Stderr, "local cluster for tests: up in %s (err=%v)\n", time.Since(start).Round(time.Millisecond), shared.err)
		shared.cluster = cl
	}
	require.NoError(t, shared.err, "creating the shared test cluster")
	return shared.cluster
}

// releaseShared deletes the shared cluster if it exists (tests that need
// the machine's ports for a cluster of their own call it); the next
// testCluster creates a new one.
func releaseShared(t testing.TB) {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.cluster == nil {
		return
	}
	cl := shared.cluster
	shared.cluster, shared.err = nil, nil
	require.NoError(t, deleteAndCheckClean(cl, shared.chains))
	_ = os.RemoveAll(cl.cfg.home)
}

func moduleRoot() string {
	wd, _ := os.Getwd()
	return filepath.Clean(filepath.Join(wd, "..", ".."))
}

func TestMain(m *testing.M) {
	shared.skip = integrationSkipReason()
	if shared.skip != "" {
		fmt.Fprintf(os.Stderr, "local cluster integration tests and benchmarks will be skipped: %s\n", shared.skip)
	}
	// An interrupt waits for a cluster being created (shared.mu) and
	// deletes it, as the normal end does.
	finish := testenv.TearDownOnSignal("local cluster for tests", func() error {
		shared.mu.Lock()
		defer shared.mu.Unlock()
		var err error
		if shared.cluster != nil {
			err = deleteAndCheckClean(shared.cluster, shared.chains)
			_ = os.RemoveAll(shared.cluster.cfg.home)
			shared.cluster = nil
		}
		if webapp.dir != "" {
			_ = os.RemoveAll(webapp.dir)
		}
		return err
	})
	code := m.Run()
	if err := finish(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: tearing down the shared test cluster: %v\n", err)
		code = 1
	}
	os.Exit(code)
}

// deleteAndCheckClean deletes cl and verifies that nothing of it is left:
// no process from its PID files or cgroups, no mount under the work folder,
// no bridge, no service CIDR route, no iptables chain (ours or the kubelet's
// and kube-proxy's KUBE-* ones), no cgroup, no folder.
func deleteAndCheckClean(cl *Cluster, before []string) error {
	refs := cl.pidFiles()
	cgPIDs := cl.cgroupPIDs()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := cl.Delete(ctx); err != nil {
		return err
	}
	return checkClean(ctx, cl, refs, cgPIDs, before)
}

// checkClean verifies that nothing of cl is left; refs and cgPIDs are the
// processes it had.
func checkClean(ctx context.Context, cl *Cluster, refs map[string]procRef, cgPIDs []int, before []string) error {
	var problems []string
	for name, r := range refs {
		if r.Alive() {
			problems = append(problems, fmt.Sprintf("%s (pid %d) still running", name, r.PID))
		}
	}
	for _, pid := range cgPIDs {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
			if r, err := proc.Of(pid); err == nil && r.Alive() {
				problems = append(problems, fmt.Sprintf("process %d from the cluster's cgroups still running", pid))
			}
		}
	}
	if mps, _ := mountsUnder(cl.p.work); len(mps) > 0 {
		problems = append(problems, fmt.Sprintf("still mounted: %v", mps))
	}
	if _, err := net.InterfaceByName(cl.cfg.bridge); err == nil {
		problems = append(problems, "bridge "+cl.cfg.bridge+" still exists")
	}
	if out, _ := run(ctx, "ip", "-4", "route", "show", "exact", cl.cfg.serviceCIDR.String()); strings.TrimSpace(out) != "" {
		problems = append(problems, "service CIDR route still there: "+out)
	}
	for _, fam := range guardFamilies() {
		if out, _ := run(ctx, fam, "-w", "5", "-S"); strings.Contains(out, "FIREDRILL") {
			problems = append(problems, fam+" still mentions FIREDRILL: "+out)
		}
	}
	if before != nil {
		if after := iptablesChains(); strings.Join(after, ",") != strings.Join(before, ",") {
			problems = append(problems, fmt.Sprintf("iptables chains differ: before %v, after %v", before, after))
		}
		// No rule anywhere may still mention a KUBE-* chain that did
		// not exist before (a jump left in a built-in chain).
		pre := map[string]bool{}
		for _, c := range before {
			pre[c] = true
		}
		for _, fam := range iptablesFamilies {
			for _, table := range kubeChainTables {
				out, _ := run(ctx, fam, "-w", "5", "-t", table, "-S")
				for _, line := range strings.Split(out, "\n") {
					for _, f := range strings.Fields(line) {
						if strings.HasPrefix(f, kubeChainPrefix) && !pre[fam+" "+table+" "+f] {
							problems = append(problems, fmt.Sprintf("%s %s rule still mentions %s: %s", fam, table, f, line))
						}
					}
				}
			}
		}
	}
	for _, ctrl := range cgroupControllers() {
		if _, err := os.Stat(cl.clusterCgroup(ctrl)); err == nil {
			problems = append(problems, "cgroup still there: "+cl.clusterCgroup(ctrl))
		}
	}
	if _, err := os.Stat(cl.p.work); err == nil {
		problems = append(problems, "work folder still there: "+cl.p.work)
	}
	if _, err := os.Stat(cl.p.sockets); err == nil {
		problems = append(problems, "socket folder still there: "+cl.p.sockets)
	}
	entries, _ := os.ReadDir(containerLogLinks)
	for _, e := range entries {
		if target, err := os.Readlink(filepath.Join(containerLogLinks, e.Name())); err == nil && strings.HasPrefix(target, cl.p.work+"/") {
			problems = append(problems, "container log link still there: "+e.Name())
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "; "))
	}
	return nil
}

// iptablesChains lists the user-defined chains of the filter, nat and
// mangle tables for IPv4 and IPv6, as "family table chain".
func iptablesChains() []string {
	var out []string
	for _, fam := range iptablesFamilies {
		for _, table := range []string{"filter", "nat", "mangle"} {
			s, err := run(context.Background(), fam, "-w", "5", "-t", table, "-S")
			if err != nil {
				continue
			}
			for _, line := range strings.Split(s, "\n") {
				if c, ok := strings.CutPrefix(line, "-N "); ok {
					out = append(out, fam+" "+table+" "+strings.TrimSpace(c))
				}
			}
		}
	}
	return out
}

func TestStatusHealthy(t *testing.T) {
	cl := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	st, err := cl.Status(ctx)
	require.NoError(t, err)
	require.True(t, st.Healthy(), "%+v", st.Components)
	names := map[string]bool{}
	for _, c := range st.Components {
		names[c.Name] = true
	}
	for _, n := range append(componentOrder, "node", "network") {
		require.True(t, names[n], "status lacks %s", n)
	}
}

func TestCreateReusesRunningCluster(t *testing.T) {
	cl := testCluster(t)
	before := cl.PIDs()
	require.Len(t, before, len(componentOrder))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	start := time.Now()
	// A new value with the same options, as a second `firedrill cluster up`
	// would make.
	again := New(WithName(cl.cfg.name), WithHome(cl.cfg.home), WithLogger(testLogger()))
	require.NoError(t, again.Create(ctx))
	took := time.Since(start)
	require.Less(t, took, 10*time.Second, "reusing a running cluster must be quick")
	require.Equal(t, before, cl.PIDs(), "reuse must not restart components")
}

const webappImage = "firedrill-webapp"

func TestDeploymentRolloutAndUndo(t *testing.T) {
	cl := testCluster(t)
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()

	// One binary, two tags that differ only in VERSION, both loaded.
	loadWebapp(t, cl)

	cs, err := cl.clientset()
	require.NoError(t, err)
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "rollout-"}}
	ns, err = cs.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = cs.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	})
	// The namespace's default ServiceAccount comes from the controller
	// manager; pods are rejected until it exists.
	require.NoError(t, wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := cs.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}))

	dep, err := cs.AppsV1().Deployments(ns.Name).Create(ctx, webappDeployment(webappImage+":v1"), metav1.CreateOptions{})
	require.NoError(t, err)
	waitRolledOut(ctx, t, cs, ns.Name, dep.Name)
	requirePodsAnswer(ctx, t, cs, ns.Name, "v1")
	v1RS := currentReplicaSet(ctx, t, cs, ns.Name, dep.Name)

	// Push v2.
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		d, err := cs.AppsV1().Deployments(ns.Name).Get(ctx, dep.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		d.Spec.Template.Spec.Containers[0].Image = webappImage + ":v2"
		_, err = cs.AppsV1().Deployments(ns.Name).Update(ctx, d, metav1.UpdateOptions{})
		return err
	}))
	waitRolledOut(ctx, t, cs, ns.Name, dep.Name)
	requirePodsAnswer(ctx, t, cs, ns.Name, "v2")
	v2RS := currentReplicaSet(ctx, t, cs, ns.Name, dep.Name)
	require.NotEqual(t, v1RS.Name, v2RS.Name)

	// `kubectl rollout undo deployment/webapp`: kubectl's own rollbacker,
	// to the previous revision (0).
	rb, err := polymorphichelpers.RollbackerFor(schema.GroupKind{Group: "apps", Kind: "Deployment"}, cs)
	require.NoError(t, err)
	d, err := cs.AppsV1().Deployments(ns.Name).Get(ctx, dep.Name, metav1.GetOptions{})
	require.NoError(t, err)
	msg, err := rb.Rollback(d, nil, 0, cmdutil.DryRunNone)
	require.NoError(t, err)
	t.Logf("rollback: %s", msg)
	waitRolledOut(ctx, t, cs, ns.Name, dep.Name)
	requirePodsAnswer(ctx, t, cs, ns.Name, "v1")

	// As with kubectl, the old ReplicaSet is scaled back up (and becomes
	// revision 3) rather than a new one being created.
	back := currentReplicaSet(ctx, t, cs, ns.Name, dep.Name)
	require.Equal(t, v1RS.Name, back.Name)
	require.Equal(t, "3", back.Annotations[deploymentutil.RevisionAnnotation])
}

func webappDeployment(image string) *appsv1.Deployment {
	replicas := int32(3)
	history := int32(5)
	maxSurge := intstr.FromInt32(1)
	maxUnavailable := intstr.FromInt32(0)
	labels := map[string]string{"app": "webapp"}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "webapp", Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas:             &replicas,
			RevisionHistoryLimit: &history,
			Selector:             &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{
				Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{
					MaxSurge:       &maxSurge,
					MaxUnavailable: &maxUnavailable,
				},
			},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: ptr(int64(2)),
					Containers: []corev1.Container{{
						Name:            "webapp",
						Image:           image,
						ImagePullPolicy: corev1.PullNever,
						Ports:           []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
						ReadinessProbe: &corev1.Probe{
							ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{
								Path: "/healthz", Port: intstr.FromString("http"),
							}},
							PeriodSeconds:    1,
							FailureThreshold: 3,
						},
					}},
				},
			},
		},
	}
}

func ptr[T any](v T) *T { return &v }

// waitRolledOut waits like `kubectl rollout status`: the controller has seen
// the latest spec, every replica is updated and available, no old replica
// is left.
func waitRolledOut(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 3*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		want := *d.Spec.Replicas
		s := d.Status
		last = fmt.Sprintf("generation %d/%d, replicas %d updated %d ready %d available %d",
			s.ObservedGeneration, d.Generation, s.Replicas, s.UpdatedReplicas, s.ReadyReplicas, s.AvailableReplicas)
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want &&
			s.Replicas == want && s.AvailableReplicas == want, nil
	})
	require.NoError(t, err, "deployment %s/%s not rolled out: %s", ns, name, last)
}

// requirePodsAnswer waits until exactly the 3 ready, non-terminating pods
// answer version on / from the host, at their pod IPs.
func requirePodsAnswer(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, version string) {
	t.Helper()
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	var last string
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=webapp"})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		var answers []string
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil || p.Status.PodIP == "" || !podReady(&p) {
				continue
			}
			body, err := get(ctx, client, "http://"+net.JoinHostPort(p.Status.PodIP, "8080")+"/")
			if err != nil {
				last = err.Error()
				return false, nil
			}
			answers = append(answers, p.Status.PodIP+"="+body)
			if body != version {
				last = fmt.Sprintf("pod %s answered %q", p.Name, body)
				return false, nil
			}
		}
		last = fmt.Sprintf("answers: %v", answers)
		return len(answers) == 3, nil
	})
	require.NoError(t, err, "pods do not all answer %s: %s", version, last)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func get(ctx context.Context, c *http.Client, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return strings.TrimSpace(string(b)), err
}

// currentReplicaSet returns the ReplicaSet of the deployment's current
// revision.
func currentReplicaSet(ctx context.Context, t *testing.T, cs kubernetes.Interface, ns, name string) *appsv1.ReplicaSet {
	t.Helper()
	d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	rev := d.Annotations[deploymentutil.RevisionAnnotation]
	rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=webapp"})
	require.NoError(t, err)
	for i := range rss.Items {
		if rss.Items[i].Annotations[deploymentutil.RevisionAnnotation] == rev {
			return &rss.Items[i]
		}
	}
	t.Fatalf("no ReplicaSet with revision %s", rev)
	return nil
}
