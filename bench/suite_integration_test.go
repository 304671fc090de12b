package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/bench"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
	"github.com/firedrill/firedrill/runner/traffic"
)

// Knobs of TestBenchSuite, read from the environment.
const (
	// EnvRuns is the number of bad-image pushes (default 20).
	EnvRuns = "BENCH_RUNS"
	// EnvScenarioRuns is the number of runs of each other drill (default 2).
	EnvScenarioRuns = "BENCH_SCENARIO_RUNS"
	// EnvSoak is how long the engine guards the healthy soak (default 10m;
	// 0 skips the soak).
	EnvSoak = "BENCH_SOAK"
	// EnvSoakRevision is how often the soak rolls its workload to a fresh
	// revision (default 2m; 0 keeps one revision).
	EnvSoakRevision = "BENCH_SOAK_REVISION"
	// EnvArgo picks the Argo Rollouts measurements: "all" (fastest, then
	// documented; the default), "fastest" or "off".
	EnvArgo = "BENCH_ARGO"
	// EnvFastRuns is the number of pushes of the bench-only fast drill
	// (testdata/bad-image-fast.yaml; default 0: not run).
	EnvFastRuns = "BENCH_FAST_RUNS"
	// guardProcessEnv carries the soak guard process's configuration.
	guardProcessEnv = "FIREDRILL_BENCH_GUARD_PROCESS"
)

// outDir is where the results go, relative to this package.
var outDir = filepath.Join("..", "_out", "bench")

type suiteConfig struct {
	runs, scenarioRuns, fastRuns int
	seqRuns                      int
	soak, soakRevision           time.Duration
	argo                         []bench.ArgoSetting
	settings                     map[string]string
}

func readSuiteConfig(t *testing.T) suiteConfig {
	t.Helper()
	atoi := func(name string, def int) int {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		n, err := strconv.Atoi(v)
		require.NoError(t, err, name)
		require.GreaterOrEqual(t, n, 0, name)
		return n
	}
	dur := func(name string, def time.Duration) time.Duration {
		v := os.Getenv(name)
		if v == "" {
			return def
		}
		d, err := time.ParseDuration(v)
		require.NoError(t, err, name)
		require.GreaterOrEqual(t, d, time.Duration(0), name)
		return d
	}
	c := suiteConfig{runs: atoi(EnvRuns, 20), scenarioRuns: atoi(EnvScenarioRuns, 2), fastRuns: atoi(EnvFastRuns, 0), seqRuns: atoi(EnvSeqRuns, 5),
		soak: dur(EnvSoak, 10*time.Minute), soakRevision: dur(EnvSoakRevision, 2*time.Minute)}
	argo := os.Getenv(EnvArgo)
	switch argo {
	case "", "all":
		argo = "all"
		c.argo = []bench.ArgoSetting{bench.ArgoFastest, bench.ArgoDocumented}
	case "fastest":
		c.argo = []bench.ArgoSetting{bench.ArgoFastest}
	case "off":
	default:
		t.Fatalf("%s=%q: want all, fastest or off", EnvArgo, argo)
	}
	c.settings = map[string]string{
		EnvRuns: strconv.Itoa(c.runs), EnvScenarioRuns: strconv.Itoa(c.scenarioRuns), EnvFastRuns: strconv.Itoa(c.fastRuns),
		EnvSoak: c.soak.String(), EnvSoakRevision: c.soakRevision.String(), EnvArgo: argo, EnvSeqRuns: strconv.Itoa(c.seqRuns),
	}
	return c
}

// collector gathers the rows from the concurrent parts of the suite and
// writes results.json and results.md after every change, so that an
// interrupted run leaves what it measured.
type collector struct {
	mu    sync.Mutex
	res   bench.Results
	rows  map[int]bench.Scenario
	start bench.Usage
	// last is what flush wrote last.
	last bench.Results
}

// Row order in the table.
const (
	rowBadImage = iota
	rowBadImageFast
	rowArgoFastest
	rowArgoDocumented
	rowBadConfig
	rowPodKill
	rowPartition
	rowCorruption
	rowSoak
	rowSoakFast
)

func (c *collector) set(t *testing.T, order int, s bench.Scenario) {
	c.mu.Lock()
	c.rows[order] = s
	c.mu.Unlock()
	c.flush(t)
}

func (c *collector) update(t *testing.T, fn func(r *bench.Results)) {
	c.mu.Lock()
	fn(&c.res)
	c.mu.Unlock()
	c.flush(t)
}

func (c *collector) errorf(t *testing.T, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	t.Log(msg)
	c.update(t, func(r *bench.Results) { r.Errors = append(r.Errors, msg) })
}

func (c *collector) flush(t *testing.T) {
	c.mu.Lock()
	defer c.mu.Unlock()
	r := c.res
	r.Scenarios = nil
	keys := make([]int, 0, len(c.rows))
	for k := range c.rows {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	var bad []bench.Scenario
	for _, k := range keys {
		r.Scenarios = append(r.Scenarios, c.rows[k])
		if k == rowBadImage || k == rowBadImageFast {
			bad = append(bad, c.rows[k])
		}
	}
	r.Targets = bench.Targets(bad, r.Soaks)
	// The sequential test's false alarms come from the soaks, its
	// detection times from the sequential part.
	var seq bench.Sequential
	if c.res.Sequential != nil {
		seq = *c.res.Sequential
	}
	seq.FalseAlarms = bench.SoakFalseAlarms(r.Soaks)
	r.Sequential = nil
	if len(seq.FalseAlarms) > 0 || len(seq.Detection) > 0 {
		r.Sequential = &seq
	}
	r.Finished = time.Now().UTC()
	r.WallSeconds = r.Finished.Sub(r.Started).Seconds()
	p := bench.Between("benchmark test process: the runner and the in-process engine of every drill, the traffic generators (drills, soak, sequential part and Argo at 50 requests/s each), the sequential part's in-process engine and the Argo Rollouts poller", c.start, bench.SelfUsage())
	r.Process = &p
	c.last = r
	if err := r.Write(outDir); err != nil {
		t.Errorf("writing the results: %v", err)
	}
}

// TestBenchSuite is `make bench`'s measurement of firedrill's rollback
// engine on the real local cluster: BENCH_RUNS bad-image pushes, a healthy
// soak with background errors under the engine, BENCH_SCENARIO_RUNS runs of
// every other shipped drill and, side by side, the real Argo Rollouts
// controller on the same bad image. The three parts run concurrently on one
// demo stack, each on its own workload; it writes _out/bench/results.json
// and results.md.
func TestBenchSuite(t *testing.T) {
	if os.Getenv(BenchEnv) != "1" {
		t.Skipf("skipping: the benchmark suite takes ~30 minutes on the local cluster; it runs under make bench (%s=1)", BenchEnv)
	}
	cfg := readSuiteConfig(t)
	st := shared.Stack(t)
	rest, err := st.Cluster().RESTConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(rest)
	require.NoError(t, err)
	dsn, err := st.LedgerDSN()
	require.NoError(t, err)
	// Not t.Setenv: the parts below are parallel subtests. The soak's
	// guard process inherits it too.
	old, had := os.LookupEnv("FIREDRILL_LEDGER_DSN")
	require.NoError(t, os.Setenv("FIREDRILL_LEDGER_DSN", dsn))
	t.Cleanup(func() {
		if had {
			_ = os.Setenv("FIREDRILL_LEDGER_DSN", old)
		} else {
			_ = os.Unsetenv("FIREDRILL_LEDGER_DSN")
		}
	})

	c := &collector{rows: map[int]bench.Scenario{}, start: bench.SelfUsage()}
	policy := loadDrill(t, example("bad-image.yaml"))
	policy.Default()
	c.res = bench.Results{
		Command:    "sudo make bench (" + BenchEnv + "=1 go test -count=1 -timeout 45m -parallel 4 -run '^TestBenchSuite$' -v ./bench)",
		Machine:    bench.ThisMachine(),
		Started:    time.Now().UTC(),
		Settings:   cfg.settings,
		Sequential: &bench.Sequential{Test: "the statistical block of drills/examples/bad-image.yaml: " + bench.DescribeTest(policy.Spec.Guard.Statistical)},
		Notes: []string{
			"The drills, the healthy soak, the sequential part and Argo Rollouts run at the same time on one local cluster, each on its own workload (Deployment payment, Deployment payment-soak, Deployment payment-seq, Rollout payment-argo; one PostgreSQL ledger and one Prometheus). They compete for the machine's 2 cores: the figures are under that contention, not on an idle machine.",
			"So that the concurrent workloads do not enter each other's rules, the benchmark adds app=\"<workload>\" to every series selector of the guard rules (and of the low-traffic guard's request-rate query); the shipped rules sum over every series in Prometheus. Everything else is the shipped drill file as it is.",
			"Argo Rollouts and firedrill differ in exposure and in the MTTR they can observe: Argo's Rollout (deploy/argo) is a canary, one of five pods and so a fifth of its traffic on the bad image until the analysis fails and the Rollout aborts; firedrill's target is a plain Deployment whose rolling update (maxSurge 1) moves every pod to the bad image until the engine reverts it. MTTD is the push to the detection on both sides. Argo's MTTR is the push to the stable ReplicaSet serving alone with the Rollout's 15 s 5xx ratio in Prometheus under 1 % (a fifth of the traffic at 10 % errors rarely lifts it over 1 %); firedrill's is the push to the start of the stretch in which the clients' 10 s SLO window held under 1 % errors for 15 s.",
			"The healthy soak rolls payment-soak to a fresh revision (a pod-template annotation, the same 0.5 % noise) every " + EnvSoakRevision + ", so that the guard's per-revision sequential test starts over on several revisions; its false alarms per revision-hour count each revision from its push to the next push, within the time the engine guarded.",
			"The sequential part measures the guard's per-revision sequential test alone: an in-process engine guards payment-seq (a copy of payment failing 0.5 % of requests, 2 replicas, 50 requests/s) with only the bad-image drill's statistical block and strategies (no rules, no Kubernetes signals; the errors and total expressions generated from payment-seq's metrics for its pods), so that every detection is the test's. Each run rolls a fresh clean revision, lets it serve " + strconv.Itoa(seqBaselineRequests) + " requests (the test's baseline is the previous revision's observed error rate, floored at a tenth of detectErrorRate), pushes a revision failing 2 % or 5 % of requests (PAYMENT_FAULT_RATE) and times the push to the guard's detection, then waits for the revert and the recovery the guard verifies. The rates alternate. 2 % is below the test's detectErrorRate of 5 %: the SPRT between 0.5 % and 5 % gains almost nothing per request at 2 %, so its detection there is a random walk that may take minutes or miss.",
			"Before each bad-image push the benchmark rolls payment:v1 to a fresh revision (a pod-template annotation), so that every push creates a new ReplicaSet as a new release would: pushing the same image again would reuse the previous push's ReplicaSet, whose errors from a minute earlier are still in the statistical detector's 1 m window and would make detection look faster than it is.",
		},
	}
	c.flush(t)

	t.Run("parts", func(t *testing.T) {
		t.Run("drills", func(t *testing.T) {
			t.Parallel()
			runDrills(t, c, cfg, cs)
		})
		t.Run("soak", func(t *testing.T) {
			t.Parallel()
			runSoak(t, c, cfg, st, cs)
		})
		t.Run("sequential", func(t *testing.T) {
			t.Parallel()
			runSequential(t, c, cfg, st, cs)
		})
		if len(cfg.argo) > 0 {
			t.Run("argo", func(t *testing.T) {
				t.Parallel()
				runArgo(t, c, cfg)
			})
		}
	})
	c.flush(t)
	var b bytes.Buffer
	require.NoError(t, c.last.Markdown(&b))
	t.Logf("wrote %s and %s\n%s", filepath.Join(outDir, "results.json"), filepath.Join(outDir, "results.md"), b.String())
}

// loadDrill loads one drill file.
func loadDrill(t *testing.T, path string) *drills.Drill {
	t.Helper()
	ds, err := drills.LoadFile(path)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	return ds[0]
}

func example(name string) string { return filepath.Join("..", "drills", "examples", name) }

// drillScenario is one drill the suite runs N times.
type drillScenario struct {
	order int
	name  string
	file  string
	runs  int
	// faultDuration, if set, shortens every fault with a duration.
	faultDuration time.Duration
	// freshRevision rolls the target to a new revision before each run.
	freshRevision bool
	canary        bool
	note          string
}

func runDrills(t *testing.T, c *collector, cfg suiteConfig, cs kubernetes.Interface) {
	scs := []drillScenario{
		{order: rowBadImage, name: "bad image (payment:v2-buggy, 10 % errors)", file: example("bad-image.yaml"), runs: cfg.runs, freshRevision: true,
			note: "the shipped drill (drills/examples/bad-image.yaml)"},
		{order: rowBadImageFast, name: "bad image, bench-fast guard", file: filepath.Join("testdata", "bad-image-fast.yaml"), runs: cfg.fastRuns, freshRevision: true,
			note: "bench/testdata/bad-image-fast.yaml: the shipped drill with faster guard settings (see the file)"},
		{order: rowBadConfig, name: "bad config (canary track, LEDGER_MODE=broken)", file: example("bad-config.yaml"), runs: cfg.scenarioRuns, canary: true},
		{order: rowPodKill, name: "pod kill (one pod, no rollback expected)", file: example("pod-kill.yaml"), runs: cfg.scenarioRuns,
			note: "expects no rollback: success means Kubernetes alone kept the SLO and the engine stayed out; MTTD is only set if the engine detected something"},
		{order: rowPartition, name: "network partition (one pod, 20 s)", file: example("network-partition-weekly.yaml"), runs: cfg.scenarioRuns, faultDuration: 20 * time.Second,
			note: "the weekly drill with its 5 m partition cut to 20 s; expects no rollback"},
		{order: rowCorruption, name: "data corruption (ledger, restore)", file: example("data-corruption.yaml"), runs: cfg.scenarioRuns},
	}
	for _, sc := range scs {
		if sc.runs == 0 {
			continue
		}
		t.Run(strings.Fields(sc.name)[0]+"-"+filepath.Base(sc.file), func(t *testing.T) {
			runScenario(t, c, sc, cs)
		})
	}
}

func runScenario(t *testing.T, c *collector, sc drillScenario, cs kubernetes.Interface) {
	log := stacktest.Logger()
	if sc.canary {
		cfg, err := shared.Stack(t).Cluster().RESTConfig()
		require.NoError(t, err)
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		require.NoError(t, stack.InstallCanary(ctx, cfg, 2*time.Minute))
		defer func() {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			require.NoError(t, stack.RemoveCanary(ctx, cfg, time.Minute))
		}()
	}
	var recs []bench.RunRecord
	var d *drills.Drill
	for i := range sc.runs {
		d = loadDrill(t, sc.file)
		for j := range d.Spec.Faults {
			if sc.faultDuration > 0 && d.Spec.Faults[j].Duration != nil {
				d.Spec.Faults[j].Duration = drills.D(sc.faultDuration)
			}
		}
		rateOpt, err := bench.ScopeGuard(d, "payment")
		require.NoError(t, err)
		if err := readyTarget(cs, d, sc.freshRevision, i); err != nil {
			c.errorf(t, "%s run %d: the target is not ready: %v", sc.name, i+1, err)
			break
		}
		res, err := runner.New(cs, runner.WithLogger(log), runner.WithGuardOptions(rateOpt)).Run(context.Background(), d)
		require.NoError(t, err)
		rec := bench.Record(res)
		recs = append(recs, rec)
		t.Logf("%s run %d/%d: %s %s (MTTD %v, MTTR %v, wall %.1f s, overhead %.1f s)", sc.name, i+1, sc.runs, res.Verdict, res.Reason,
			res.MTTD, res.MTTR, rec.WallSeconds, rec.Overhead())
		s := bench.Summarize(sc.name, "firedrill", d, recs)
		s.Note = sc.note
		c.set(t, sc.order, s)
	}
}

// readyTarget waits until the drill's target runs payment:v1 and is
// available; with fresh, it first rolls it to a new revision (a pod
// template annotation) and waits for that.
func readyTarget(cs kubernetes.Interface, d *drills.Drill, fresh bool, run int) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ns, name := d.Spec.Target.Namespace, d.Spec.Target.Name
	if err := stack.WaitAvailable(ctx, cs, ns, name, 2*time.Minute); err != nil {
		return err
	}
	dep, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	if img := dep.Spec.Template.Spec.Containers[0].Image; img != bench.DefaultGoodImage {
		return fmt.Errorf("%s/%s runs %s, not %s", ns, name, img, bench.DefaultGoodImage)
	}
	if !fresh {
		return noTerminating(ctx, cs, dep)
	}
	patch := fmt.Sprintf(`{"spec":{"template":{"metadata":{"annotations":{"firedrill.dev/bench-run":"%d-%d"}}}}}`, time.Now().Unix(), run)
	if _, err := cs.AppsV1().Deployments(ns).Patch(ctx, name, "application/strategic-merge-patch+json", []byte(patch), metav1.PatchOptions{}); err != nil {
		return err
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		s := d.Status
		want := *d.Spec.Replicas
		return s.ObservedGeneration >= d.Generation && s.UpdatedReplicas == want && s.AvailableReplicas == want && s.Replicas == want, nil
	})
	if err != nil {
		return fmt.Errorf("rolling %s/%s to a fresh revision: %w", ns, name, err)
	}
	return noTerminating(ctx, cs, dep)
}

// noTerminating waits until the Deployment's pods are exactly its
// replicas, none of them terminating, so that every run starts alike.
func noTerminating(ctx context.Context, cs kubernetes.Interface, dep *appsv1.Deployment) error {
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil {
		return err
	}
	var last string
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(dep.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
		if err != nil {
			return false, nil
		}
		terminating := 0
		for _, p := range pods.Items {
			if p.DeletionTimestamp != nil {
				terminating++
			}
		}
		last = fmt.Sprintf("%d pods, %d terminating", len(pods.Items), terminating)
		return terminating == 0 && int32(len(pods.Items)) == *dep.Spec.Replicas, nil
	})
	if err != nil {
		return fmt.Errorf("%s/%s: old pods still there (%s): %w", dep.Namespace, dep.Name, last, err)
	}
	return nil
}

func runArgo(t *testing.T, c *collector, cfg suiteConfig) {
	measureArgo(t, c.res.Command, cfg.argo, func(r bench.PeerResult) {
		order, name := rowArgoFastest, "bad image (payment:v2-buggy), Argo Rollouts fastest"
		note := "interval 1s, failureLimit 0 (deploy/argo/21-analysistemplate-fastest.yaml); one measurement; MTTD is the push to the AnalysisRun failing, MTTR the push to the stable ReplicaSet serving alone with the 5xx ratio under 1 %"
		if r.Setting == bench.ArgoDocumented {
			order, name = rowArgoDocumented, "bad image (payment:v2-buggy), Argo Rollouts documented"
			note = "Argo's documented example, interval 5m, failureLimit 3 (deploy/argo/20-analysistemplate-documented.yaml); one measurement"
		}
		s := bench.PeerScenario(name, fmt.Sprintf("Argo Rollouts %s (%s)", r.Version, r.Setting), []bench.PeerResult{r})
		s.Note = note
		c.set(t, order, s)
	})
}

// startNoisy creates w from the demo's payment Deployment (2 replicas at
// the soak's 0.5 % noise), sends it the soak's traffic until ctx ends,
// and waits until Prometheus sees that traffic; it returns that
// Prometheus and the traffic generator. The workload is deleted when the test ends: the cleanup is
// registered before it is created, so that a half-made one goes too, and
// runs after the traffic has stopped.
func startNoisy(ctx context.Context, t *testing.T, cs kubernetes.Interface, st *stack.Stack, w bench.NoisyWorkload) (promv1.API, *traffic.Generator) {
	t.Helper()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		require.NoError(t, w.Delete(ctx, cs, time.Minute))
	})
	require.NoError(t, w.Create(ctx, cs, stack.Deployment, 2, bench.DefaultSoakNoise, 3*time.Minute))

	targets, err := traffic.NewServiceTargets(ctx, cs, bench.SoakNamespace, w.Name, traffic.WithPortName("http"))
	require.NoError(t, err)
	t.Cleanup(targets.Close)
	gen, err := traffic.New(targets, soakTraffic(t))
	require.NoError(t, err)
	tctx, stopTraffic := context.WithCancel(ctx)
	var twg sync.WaitGroup
	twg.Go(func() { _ = gen.Run(tctx) })
	t.Cleanup(func() { stopTraffic(); twg.Wait() })

	prom, err := runner.DefaultPrometheus(st.Prometheus().URL())
	require.NoError(t, err)
	rateExpr := fmt.Sprintf(`sum(rate(http_requests_total{app=%q}[15s]))`, w.App)
	require.NoError(t, wait.PollUntilContextTimeout(ctx, time.Second, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		v, err := promScalar(ctx, prom, rateExpr)
		return err == nil && v > 25, nil
	}), "Prometheus sees %s's traffic", w.Name)
	return prom, gen
}

// soakTraffic is the soak's load: the bad-image drill's requests (30 %
// transfers, 70 % balance reads) at its 50 requests/s.
func soakTraffic(t *testing.T) drills.Traffic {
	d := loadDrill(t, example("bad-image.yaml"))
	require.NotNil(t, d.Spec.Traffic)
	return *d.Spec.Traffic
}

func runSoak(t *testing.T, c *collector, cfg suiteConfig, st *stack.Stack, cs kubernetes.Interface) {
	if cfg.soak <= 0 {
		t.Skip("soak disabled")
	}
	var err error
	ctx, cancel := context.WithTimeout(context.Background(), cfg.soak+10*time.Minute)
	defer cancel()
	// The guard's 15 s rules and the statistical test's 1 m window need the
	// soak's traffic in Prometheus first.
	prom, gen := startNoisy(ctx, t, cs, st, bench.SoakWorkload)
	// The revision Create left is the first the guard watches.
	first := bench.Revision{Token: "2", Pushed: time.Now()}
	first.Hash, first.Number, err = bench.SoakWorkload.ReplicaSet(ctx, cs, first.Token)
	require.NoError(t, err)

	// The engine guards the soak in a process of its own per policy (this
	// test binary re-run as TestGuardProcess), so that its CPU and memory
	// are its own; with the bench-fast drill on, its policy guards the same
	// workload at the same time.
	policies := []string{example("bad-image.yaml")}
	if cfg.fastRuns > 0 {
		policies = append(policies, filepath.Join("testdata", "bad-image-fast.yaml"))
	}
	type proc struct {
		policy   string
		cmd      *exec.Cmd
		out, err bytes.Buffer
	}
	var procs []*proc
	from := time.Now()
	for _, pol := range policies {
		gp := bench.GuardProcess{Kubeconfig: st.Cluster().Kubeconfig(), PrometheusURL: st.Prometheus().URL(), Duration: cfg.soak}
		gp.DrillFile, err = filepath.Abs(pol)
		require.NoError(t, err)
		spec, err := json.Marshal(gp)
		require.NoError(t, err)
		p := &proc{policy: pol}
		p.cmd = exec.CommandContext(ctx, os.Args[0], "-test.run=^TestGuardProcess$", "-test.v", "-test.count=1")
		p.cmd.Env = append(os.Environ(), guardProcessEnv+"="+string(spec))
		p.cmd.Stdout, p.cmd.Stderr = &p.out, &p.err
		require.NoError(t, p.cmd.Start())
		t.Logf("soak: the engine (policy %s, pid %d) guards %s/%s (%.1f %% noise) for %s", pol, p.cmd.Process.Pid,
			bench.SoakNamespace, bench.SoakDeployment, 100*bench.DefaultSoakNoise, cfg.soak)
		procs = append(procs, p)
	}
	// Meanwhile the soak's workload moves to a fresh revision every
	// soakRevision, so that the per-revision test starts over on several.
	rctx, stopRolling := context.WithCancel(ctx)
	var rolled []bench.Revision
	var rwg sync.WaitGroup
	defer rwg.Wait()
	defer stopRolling()
	if cfg.soakRevision > 0 {
		rwg.Go(func() { rolled = rollSoak(rctx, t, c, cs, cfg.soakRevision, from, from.Add(cfg.soak)) })
	}
	var waitErrs []error
	for _, p := range procs {
		waitErrs = append(waitErrs, p.cmd.Wait())
	}
	to := time.Now()
	stopRolling()
	rwg.Wait()
	revs := append([]bench.Revision{first}, rolled...)
	snap := gen.Stats().Snapshot(from, to.Add(-2*time.Second))
	win := int(to.Sub(from).Seconds())
	promRatio, _ := promScalar(ctx, prom, fmt.Sprintf(`sum(increase(http_requests_total{app=%q,code=~"5.."}[%ds])) / sum(increase(http_requests_total{app=%q}[%ds]))`,
		bench.SoakApp, win, bench.SoakApp, win))
	for i, p := range procs {
		require.NoError(t, waitErrs[i], "guard process %s: %s\n%s", p.policy, p.out.String(), p.err.String())
		events, evals, err := bench.ParseGuardOutput(&p.out)
		require.NoError(t, err)
		require.Positive(t, evals, "the guard evaluated: %s\n%s", p.out.String(), p.err.String())
		rel := strings.TrimPrefix(p.policy, "../")
		if !strings.HasPrefix(rel, "drills/") {
			rel = "bench/" + rel
		}
		soak := bench.Soak{
			Workload: bench.SoakNamespace + "/" + bench.SoakDeployment, Policy: rel,
			NoiseRate: bench.DefaultSoakNoise, Seconds: to.Sub(from).Seconds(), Requests: snap.Requests, Errors: snap.Errors, ErrorRate: snap.ErrorRate,
			PromErrorRatio: promRatio, Evaluations: evals,
		}
		bench.CountSoak(&soak, events)
		soak.SetRevisions(revs, cfg.soakRevision, from, to)
		t.Logf("soak %s: %d evaluations, %d detections (%d with the sequential test), %d decisions, %d actions, %d false rollbacks over %d revisions, %.3f revision-hours; generator %d/%d errors (%.2f %%), Prometheus %.2f %%",
			rel, evals, soak.Detections, soak.SequentialFalseAlarms, soak.Decisions, soak.Actions, soak.FalseRollbacks, len(soak.Revisions), soak.RevisionHours,
			soak.Errors, soak.Requests, 100*soak.ErrorRate, 100*soak.PromErrorRatio)
		for _, r := range soak.Revisions {
			t.Logf("  soak revision %s (%s, hash %s) live %s to %s (%.0f s), %d detections", r.Token, r.Number, r.Hash,
				r.From.Format("15:04:05"), r.Until.Format("15:04:05"), r.LiveSeconds, r.Detections)
		}
		for _, e := range events {
			t.Logf("  soak event %s %s incident=%s strategy=%s action=%s evidence=%v %s %s", e.Time.Format("15:04:05.000"), e.Kind, e.Incident, e.Strategy, e.Action, e.Evidence, e.Reason, e.Error)
		}
		u, ok := bench.ChildUsage(p.cmd.ProcessState)
		require.True(t, ok)
		eng := bench.Between(fmt.Sprintf("rollback engine, policy %s, guarding the soak alone in its own process (this test binary re-run as TestGuardProcess: client-go, Prometheus client, SQLite audit)", rel),
			bench.Usage{At: from}, bench.Usage{At: to, CPU: u.CPU, MaxRSSKiB: u.MaxRSSKiB}).WithEvaluations(evals)
		fr := soak.FalseRollbacks
		order, guard := rowSoak, "firedrill, policy of drills/examples/bad-image.yaml"
		if i > 0 {
			order, guard = rowSoakFast, "firedrill, policy of bench/testdata/bad-image-fast.yaml"
		}
		row := bench.Scenario{Name: fmt.Sprintf("healthy soak (%s, %.1f %% background errors)", cfg.soak, 100*bench.DefaultSoakNoise),
			Guard: guard, Runs: 1, FalseRollbacks: &fr,
			Note: fmt.Sprintf("payment-soak: payment:v1 with PAYMENT_BEHAVIOUR=buggy and PAYMENT_FAULT_RATE=%g set on the Deployment, 2 replicas, 50 requests/s (the bad-image drill's mix), %s; false rollbacks are incidents in which the engine decided to roll back or acted with a strategy other than handing over to a human", bench.DefaultSoakNoise, soakRolling(cfg.soakRevision, len(soak.Revisions)))}
		c.update(t, func(r *bench.Results) {
			r.Soaks = append(r.Soaks, soak)
			r.Engine = append(r.Engine, eng)
		})
		c.set(t, order, row)
	}
}

// soakRolling says how the soak moved through revisions, for its row.
func soakRolling(period time.Duration, revisions int) string {
	if period <= 0 {
		return "one revision"
	}
	return fmt.Sprintf("rolled to a fresh revision (a pod-template annotation) every %s: %d revisions", period, revisions)
}

// rollSoak rolls the soak's workload to a fresh revision every period
// after from, while the push is before end, waiting for each rollout,
// until ctx ends. It returns the revisions it pushed, in order. A push or
// rollout that fails ends the rolling with an error in the results (a
// guard that handed over to a human paused the Deployment, say).
func rollSoak(ctx context.Context, t *testing.T, c *collector, cs kubernetes.Interface, period time.Duration, from, end time.Time) []bench.Revision {
	w := bench.SoakWorkload
	var revs []bench.Revision
	for k := 1; ; k++ {
		at := from.Add(time.Duration(k) * period)
		if !at.Before(end) {
			return revs
		}
		timer := time.NewTimer(time.Until(at))
		select {
		case <-ctx.Done():
			timer.Stop()
			return revs
		case <-timer.C:
		}
		// CreateSoak made revisions 1 and 2.
		rev := bench.Revision{Token: strconv.Itoa(k + 2), Pushed: time.Now()}
		if err := w.Push(ctx, cs, rev.Token, nil); err != nil {
			if ctx.Err() == nil {
				c.errorf(t, "soak: no further revisions: %v", err)
			}
			return revs
		}
		err := w.WaitRolledOut(ctx, cs, 3*time.Minute)
		if err == nil {
			rev.RolledOut = time.Now()
		}
		// The revision is live from its push, rolled out or not (the soak
		// may have ended during its rollout).
		lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		rev.Hash, rev.Number, _ = w.ReplicaSet(lctx, cs, rev.Token)
		cancel()
		revs = append(revs, rev)
		if err != nil {
			if ctx.Err() == nil {
				c.errorf(t, "soak: revision %s did not roll out, no further revisions: %v", rev.Token, err)
			}
			return revs
		}
		t.Logf("soak: revision %s (hash %s) pushed, rolled out in %s", rev.Token, rev.Hash, rev.RolledOut.Sub(rev.Pushed).Round(time.Millisecond))
	}
}

// TestGuardProcess is not a test: it is the soak's guard process, which
// TestBenchSuite starts by re-running this binary with the configuration in
// FIREDRILL_BENCH_GUARD_PROCESS. Without it, it skips.
func TestGuardProcess(t *testing.T) {
	spec := os.Getenv(guardProcessEnv)
	if spec == "" {
		t.Skip("the soak's guard process; TestBenchSuite runs it")
	}
	var gp bench.GuardProcess
	require.NoError(t, json.Unmarshal([]byte(spec), &gp))
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	require.NoError(t, bench.RunGuardProcess(ctx, gp, os.Stdout))
}

// promScalar is the first value of an instant query.
func promScalar(ctx context.Context, api promv1.API, expr string) (float64, error) {
	v, _, _, err := api.Query(ctx, expr, time.Now())
	if err != nil {
		return 0, err
	}
	vec, ok := v.(model.Vector)
	if !ok || len(vec) == 0 {
		return 0, fmt.Errorf("no data for %s", expr)
	}
	return float64(vec[0].Value), nil
}
