package stack_test

import (
	"context"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/firedrill/firedrill/clusters/local/stack"

	"github.com/jackc/pgx/v5"
	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner/traffic"
)

// demo is what the acceptance subtests share: clients for the cluster,
// Prometheus and the ledger database, and the Service's ready endpoints.
type demo struct {
	cs      kubernetes.Interface
	prom    promv1.API
	dsn     string
	targets *traffic.ServiceTargets
}

// newDemo connects to the running stack st.
func newDemo(ctx context.Context, t *testing.T, st *stack.Stack) *demo {
	t.Helper()
	cfg, err := st.Cluster().RESTConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	pc, err := promapi.NewClient(promapi.Config{Address: st.Prometheus().URL()})
	require.NoError(t, err)
	pg, err := st.Postgres()
	require.NoError(t, err)
	// Start reuses the running server; it loads the ledger role's
	// password, without which DSN has none.
	require.NoError(t, pg.Start(ctx))
	targets, err := traffic.NewServiceTargets(ctx, cs, stack.Namespace, stack.Service, traffic.WithPortName("http"))
	require.NoError(t, err)
	t.Cleanup(targets.Close)
	return &demo{cs: cs, prom: promv1.NewAPI(pc), dsn: pg.DSN(), targets: targets}
}

// release is one rolled-out revision of the payment Deployment.
type release struct {
	image string
	hash  string   // pod-template-hash of its ReplicaSet
	addrs []string // its pods' ip:8080, sorted
}

// selector is the PromQL label matcher of the release's pods.
func (r release) selector() string {
	return fmt.Sprintf(`namespace=%q,pod_template_hash=%q`, stack.Namespace, r.hash)
}

// rollout sets the payment container's image, waits for the rollout to
// complete, then until the Service's endpoints are exactly the new pods
// and Prometheus scrapes all of them, so that load sent afterwards reaches
// only the new release and is counted.
func (d *demo) rollout(ctx context.Context, t *testing.T, image string) release {
	t.Helper()
	start := time.Now()
	require.NoError(t, retry.RetryOnConflict(retry.DefaultRetry, func() error {
		dep, err := d.cs.AppsV1().Deployments(stack.Namespace).Get(ctx, stack.Deployment, metav1.GetOptions{})
		if err != nil {
			return err
		}
		for i := range dep.Spec.Template.Spec.Containers {
			if dep.Spec.Template.Spec.Containers[i].Name == "payment" {
				dep.Spec.Template.Spec.Containers[i].Image = image
			}
		}
		_, err = d.cs.AppsV1().Deployments(stack.Namespace).Update(ctx, dep, metav1.UpdateOptions{})
		return err
	}))
	require.NoError(t, stack.WaitAvailable(ctx, d.cs, stack.Namespace, stack.Deployment, 2*time.Minute))
	rel := d.current(ctx, t, image)
	var last []string
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		eps, err := d.targets.Endpoints(ctx)
		if err != nil {
			return false, err
		}
		last = eps
		return slices.Equal(eps, rel.addrs), nil
	})
	require.NoError(t, err, "service endpoints %v never became the new pods %v", last, rel.addrs)
	d.waitScraping(ctx, t, rel)
	t.Logf("rolled out %s (pod-template-hash %s) in %s", image, rel.hash, time.Since(start).Round(100*time.Millisecond))
	return rel
}

// current returns the Deployment's rolled-out release, which must run
// image.
func (d *demo) current(ctx context.Context, t *testing.T, image string) release {
	t.Helper()
	dep, err := d.cs.AppsV1().Deployments(stack.Namespace).Get(ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	require.NoError(t, err)
	rss, err := d.cs.AppsV1().ReplicaSets(stack.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	require.NoError(t, err)
	rel := release{image: image}
	for _, rs := range rss.Items {
		if rs.Spec.Replicas != nil && *rs.Spec.Replicas > 0 && rs.Annotations["deployment.kubernetes.io/revision"] == dep.Annotations["deployment.kubernetes.io/revision"] {
			require.Equal(t, image, rs.Spec.Template.Spec.Containers[0].Image, "current ReplicaSet %s", rs.Name)
			rel.hash = rs.Labels["pod-template-hash"]
		}
	}
	require.NotEmpty(t, rel.hash, "no current ReplicaSet for revision %s", dep.Annotations["deployment.kubernetes.io/revision"])
	pods, err := d.cs.CoreV1().Pods(stack.Namespace).List(ctx, metav1.ListOptions{LabelSelector: "pod-template-hash=" + rel.hash})
	require.NoError(t, err)
	for _, p := range pods.Items {
		if p.DeletionTimestamp == nil && podReady(&p) && p.Status.PodIP != "" {
			rel.addrs = append(rel.addrs, p.Status.PodIP+":8080")
		}
	}
	slices.Sort(rel.addrs)
	require.Len(t, rel.addrs, int(*dep.Spec.Replicas), "ready pods of %s", rel.hash)
	return rel
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// waitScraping waits until Prometheus scrapes every pod of rel.
func (d *demo) waitScraping(ctx context.Context, t *testing.T, rel release) {
	t.Helper()
	q := fmt.Sprintf(`count(up{%s} == 1)`, rel.selector())
	var last float64
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		v, ok, err := d.scalar(ctx, q, time.Now())
		if err != nil || !ok {
			return false, nil
		}
		last = v
		return int(v) == len(rel.addrs), nil
	})
	require.NoError(t, err, "Prometheus scrapes %v of %d pods of %s", last, len(rel.addrs), rel.hash)
}

// waitScrapedPast waits until Prometheus has scraped every pod of rel after
// at, so that a query evaluated at `at` sees complete data.
func (d *demo) waitScrapedPast(ctx context.Context, t *testing.T, rel release, at time.Time) {
	t.Helper()
	q := fmt.Sprintf(`min(timestamp(up{%s}))`, rel.selector())
	var last float64
	err := wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		v, ok, err := d.scalar(ctx, q, time.Now())
		if err != nil || !ok {
			return false, nil
		}
		last = v
		return v > float64(at.UnixMilli())/1000, nil
	})
	require.NoError(t, err, "Prometheus never scraped %s past %s (last scrape %v)", rel.hash, at.Format(time.RFC3339Nano), last)
}

// scalar evaluates q at ts and returns its single value; ok is false for
// an empty result.
func (d *demo) scalar(ctx context.Context, q string, ts time.Time) (float64, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	v, _, _, err := d.prom.Query(ctx, q, ts)
	if err != nil {
		return 0, false, fmt.Errorf("query %s: %w", q, err)
	}
	switch v := v.(type) {
	case model.Vector:
		switch len(v) {
		case 0:
			return 0, false, nil
		case 1:
			return float64(v[0].Value), true, nil
		}
		return 0, false, fmt.Errorf("query %s: %d series, want one", q, len(v))
	case *model.Scalar:
		return float64(v.Value), true, nil
	}
	return 0, false, fmt.Errorf("query %s: unexpected result type %s", q, v.Type())
}

// mustScalar is scalar that fails t on an error or an empty result.
func (d *demo) mustScalar(ctx context.Context, t *testing.T, q string, ts time.Time) float64 {
	t.Helper()
	v, ok, err := d.scalar(ctx, q, ts)
	require.NoError(t, err)
	require.True(t, ok, "no data for %s at %s", q, ts.Format(time.RFC3339Nano))
	return v
}

// promErrorRatio returns the 5xx ratio and the request count Prometheus
// saw from rel's pods in the window of w seconds ending at end.
func (d *demo) promErrorRatio(ctx context.Context, t *testing.T, rel release, w int, end time.Time) (ratio, requests float64) {
	t.Helper()
	all := fmt.Sprintf(`sum(increase(http_requests_total{%s}[%ds]))`, rel.selector(), w)
	bad := fmt.Sprintf(`sum(increase(http_requests_total{%s,code=~"5.."}[%ds]))`, rel.selector(), w)
	// A release without any 5xx has no 5xx series at all: count it as 0.
	ratio = d.mustScalar(ctx, t, fmt.Sprintf(`(%s or vector(0)) / %s`, bad, all), end)
	return ratio, d.mustScalar(ctx, t, all, end)
}

// promP99 returns the p99 latency Prometheus computes for rel's pods over
// the window of w seconds ending at end.
func (d *demo) promP99(ctx context.Context, t *testing.T, rel release, w int, end time.Time) time.Duration {
	t.Helper()
	q := fmt.Sprintf(`histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{%s}[%ds])))`, rel.selector(), w)
	v := d.mustScalar(ctx, t, q, end)
	require.False(t, math.IsNaN(v), "%s is NaN", q)
	return time.Duration(v * float64(time.Second))
}

// Request mixes.
var (
	balanceRequest  = drills.RequestTemplate{Method: "GET", Path: "/balances/{{Rand 100}}"}
	transferRequest = drills.RequestTemplate{
		Method:  "POST",
		Path:    "/transfers",
		Body:    `{"from":{{Rand 100}},"to":{{Rand 100}},"amount":1}`,
		Headers: map[string]string{"Content-Type": "application/json"},
	}
	mixedLoad    = []drills.RequestTemplate{balanceRequest, transferRequest}
	transferLoad = []drills.RequestTemplate{transferRequest}
)

// loadRun is one generator run.
type loadRun struct {
	gen  *traffic.Generator
	done chan error
}

// startLoad starts rate requests per second of reqs at the Service's ready
// endpoints for at most d (or until ctx ends).
func (d *demo) startLoad(ctx context.Context, t *testing.T, rate float64, dur, timeout time.Duration, reqs []drills.RequestTemplate) *loadRun {
	t.Helper()
	gen, err := traffic.New(d.targets, drills.Traffic{
		Rate:     rate,
		Duration: drills.D(dur),
		Timeout:  drills.D(timeout),
		Requests: reqs,
	}, traffic.WithSeed(uint64(time.Now().UnixNano())))
	require.NoError(t, err)
	r := &loadRun{gen: gen, done: make(chan error, 1)}
	go func() { r.done <- gen.Run(ctx) }()
	return r
}

// wait waits for the run to end, all requests in flight included.
func (r *loadRun) wait(t *testing.T, limit time.Duration) {
	t.Helper()
	select {
	case err := <-r.done:
		require.NoError(t, err)
	case <-time.After(limit):
		t.Fatalf("traffic generator still running after %s", limit)
	}
}

// measure runs load for warmup+window and returns the generator's summary
// of the window and the window's end. The warm-up lets every pod's series
// exist before the window, so that Prometheus's increase() misses none.
func (d *demo) measure(ctx context.Context, t *testing.T, rate float64, warmup, window, timeout time.Duration, reqs []drills.RequestTemplate) (traffic.Snapshot, time.Time) {
	t.Helper()
	r := d.startLoad(ctx, t, rate, warmup+window, timeout, reqs)
	r.wait(t, warmup+window+timeout+30*time.Second)
	st := r.gen.Stats()
	from := st.Start().Add(warmup)
	to := from.Add(window)
	snap := st.Snapshot(from, to)
	require.Zero(t, snap.Pending)
	require.InDelta(t, rate*window.Seconds(), float64(snap.Requests), rate*window.Seconds()*0.05, "requests in the window")
	return snap, to
}

// ledgerHolds evaluates the ledger invariant in the database.
func (d *demo) ledgerHolds(ctx context.Context, t *testing.T) (holds bool, sum, total int64) {
	t.Helper()
	err := d.withDB(ctx, func(conn *pgx.Conn) error {
		return conn.QueryRow(ctx, `SELECT (SELECT COALESCE(SUM(balance), 0) FROM accounts) = (SELECT total FROM ledger_total),
			(SELECT COALESCE(SUM(balance), 0)::bigint FROM accounts), (SELECT total FROM ledger_total)`).Scan(&holds, &sum, &total)
	})
	require.NoError(t, err)
	return holds, sum, total
}

// withDB runs fn on a new connection to the ledger database.
func (d *demo) withDB(ctx context.Context, fn func(*pgx.Conn) error) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, d.dsn)
	if err != nil {
		return fmt.Errorf("connect to the ledger: %w", err)
	}
	defer conn.Close(context.Background())
	return fn(conn)
}
