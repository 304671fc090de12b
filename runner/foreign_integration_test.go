package runner_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/require"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/clusters/images"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/clusters/local/stack/stacktest"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner"
	"github.com/firedrill/firedrill/scenarios"
)

// foreignImage is one image tarball of a workload firedrill did not write:
// a Go main package built with images.Build from its own module, with a
// tag per release.
type foreignImage struct {
	pkg  string // Go package
	dir  string // module folder, relative to the repository root
	tags []images.Tag

	once sync.Once
	err  error
}

// The foreign workloads' images. podinfo is built unmodified from its
// own module (e2e/workloads/podinfo pins it); its bad release is the same
// binary with --random-error (PODINFO_RANDOM_ERROR), which fails a third
// of the requests with 500, 400 or 409; its benign release (in the test)
// only changes the UI colour.
var (
	podinfoImage = &foreignImage{
		pkg: "github.com/stefanprodan/podinfo/cmd/podinfo", dir: "e2e/workloads/podinfo",
		tags: []images.Tag{
			{Ref: "podinfo:6.9.2"},
			{Ref: "podinfo:6.9.2-random-error", Env: []string{"PODINFO_RANDOM_ERROR=true"}},
		},
	}
	otelImage = &foreignImage{
		pkg: ".", dir: "e2e/workloads/otel",
		tags: []images.Tag{
			{Ref: "otel-workload:v1"},
			{Ref: "otel-workload:v2", Env: []string{"GREETING=hi"}},
		},
	}
	micrometerImage = &foreignImage{
		pkg: "./e2e/workloads/micrometer", dir: ".",
		tags: []images.Tag{
			{Ref: "micrometer-workload:v1"},
			{Ref: "micrometer-workload:v2-errors", Env: []string{"ERROR_SHARE=0.2"}},
			{Ref: "micrometer-workload:v2", Env: []string{"GREETING=hi"}},
		},
	}
)

// loadMu serialises the imports into the node's containerd.
var loadMu sync.Mutex

// ensure builds the image tarball once per test binary run (into dir) and
// loads it into the cluster.
func (im *foreignImage) ensure(t *testing.T, st *stack.Stack, dir string) {
	t.Helper()
	im.once.Do(func() {
		start := time.Now()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
		defer cancel()
		repo, _, _ := strings.Cut(im.tags[0].Ref, ":")
		tarball := filepath.Join(dir, repo+".tar")
		if _, im.err = images.Build(ctx, im.pkg, im.tags, tarball, images.WithDir(filepath.Join("..", im.dir)), images.WithLogger(stacktest.Logger())); im.err != nil {
			return
		}
		loadMu.Lock()
		defer loadMu.Unlock()
		im.err = st.Cluster().LoadImage(ctx, tarball)
		t.Logf("image %s built and loaded in %s", im.pkg, time.Since(start).Round(time.Millisecond))
	})
	require.NoError(t, im.err, "image %s", im.pkg)
}

// foreignWorkload is a Deployment and Service of a workload firedrill did
// not write, laid out as its own project ships it.
type foreignWorkload struct {
	name        string // Deployment, Service and app label
	namespace   string
	image       string
	args        []string
	port        int32 // API port (container and Service)
	metricsPort int32 // scraped port
	metricsPath string
	readyPort   int32
	readyPath   string
}

func (w foreignWorkload) objects() (*appsv1.Deployment, *corev1.Service) {
	labels := map[string]string{"app": w.name}
	replicas := int32(2)
	zero := intstr.FromInt32(0)
	one := intstr.FromInt32(1)
	ports := []corev1.ContainerPort{{Name: "http", ContainerPort: w.port}}
	if w.metricsPort != w.port {
		ports = append(ports, corev1.ContainerPort{Name: "http-metrics", ContainerPort: w.metricsPort})
	}
	dep := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: w.namespace, Labels: labels},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &one, MaxUnavailable: &zero}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels, Annotations: map[string]string{
					"prometheus.io/scrape": "true",
					"prometheus.io/port":   fmt.Sprint(w.metricsPort),
					"prometheus.io/path":   w.metricsPath,
				}},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: new(int64(10)),
					Containers: []corev1.Container{{
						Name: w.name, Image: w.image, ImagePullPolicy: corev1.PullNever, Args: w.args,
						Ports: ports,
						ReadinessProbe: &corev1.Probe{
							ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: w.readyPath, Port: intstr.FromInt32(w.readyPort)}},
							PeriodSeconds: 1, TimeoutSeconds: 2, FailureThreshold: 3,
						},
					}},
				},
			},
		},
	}
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: w.name, Namespace: w.namespace, Labels: labels},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{
			Name: "http", Port: w.port, TargetPort: intstr.FromString("http"),
		}}},
	}
	return dep, svc
}

// deploy creates the workload and waits until it is available.
func (w foreignWorkload) deploy(t *testing.T, cs kubernetes.Interface) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dep, svc := w.objects()
	_, err := cs.AppsV1().Deployments(w.namespace).Create(ctx, dep, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Services(w.namespace).Create(ctx, svc, metav1.CreateOptions{})
	require.NoError(t, err)
	require.NoError(t, stack.WaitAvailable(ctx, cs, w.namespace, w.name, 2*time.Minute))
	// Prometheus discovers new pods within seconds: the drills start
	// once it scrapes every pod of the workload, as on a cluster where the
	// workload has run for a while.
	prom, err := runner.DefaultPrometheus("http://127.0.0.1:9090")
	require.NoError(t, err)
	q := fmt.Sprintf("count(up{%s} == 1)", drills.TargetScope(drills.Target{Namespace: w.namespace, Name: w.name}).Matchers())
	require.Eventually(t, func() bool {
		v, _, _, err := prom.Query(ctx, q, time.Now())
		vec, ok := v.(model.Vector)
		return err == nil && ok && len(vec) == 1 && int(vec[0].Value) == 2
	}, 2*time.Minute, 500*time.Millisecond, "Prometheus scrapes both pods of %s/%s (%s)", w.namespace, w.name, q)
}

// foreignNamespace creates ns, opted in to drills as a user would label
// it, and deletes it when t ends.
func foreignNamespace(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{scenarios.DrillsLabel: scenarios.DrillsEnabled}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		err := cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("deleting namespace %s: %v", ns, err)
		}
	})
}

// foreignDrill is the YAML of the drills of a foreign workload. It writes no
// PromQL: no rules, no request-rate expression, no statistical
// expressions; preflight detects the workload's request metrics and the
// guard gets the generated rules and test.
var foreignDrill = template.Must(template.New("drill").Parse(`apiVersion: firedrill.dev/v1alpha1
kind: Drill
metadata:
  name: {{.Name}}
spec:
  target:
    namespace: {{.Namespace}}
    name: {{.Workload}}
    port: {{.Port}}
  prometheus:
    url: http://127.0.0.1:9090
  traffic:
    rate: 20
    requests:
{{- range .Paths}}
      - path: {{.}}
{{- end}}
  guard:
    interval: 500ms
    kubernetes:
      crashLoop: true
      imagePull: true
      minReadyRatio: 0.3
    statistical:
      method: sprt
      baselineErrorRate: 0.005
      detectErrorRate: 0.05
      falseAlarmRate: 0.0001
      minRequests: 20
    strategies:
      - name: revert
        revert:
          surge: 100%
      - name: human
  faults:
    - {{.Fault}}
  slo:
    errorRate: 0.01
    p99: 500ms
    window: 10s
    stability: 10s
  timeouts:
    baseline: 90s
    observe: 2m
    verify: 90s
  expect:
    rollback: {{.Rollback}}
{{- if .Rollback}}
    strategy: revert
    mttd: 30s
{{- end}}
    mttr: 90s
`))

// foreignCase is one drill of a foreign workload.
type foreignCase struct {
	name     string // drill name suffix: bad-release, benign-release, pod-kill
	fault    string // the fault's YAML (one flow mapping)
	rollback bool
}

// runForeignDrill runs one drill of w and checks what every foreign drill
// must show: it passed, the metrics were detected with the expected
// convention, and the rollback happened or not as expected.
func runForeignDrill(t *testing.T, cs kubernetes.Interface, w foreignWorkload, paths []string, c foreignCase, convention drills.MetricsConvention) *drills.Result {
	t.Helper()
	var src bytes.Buffer
	require.NoError(t, foreignDrill.Execute(&src, map[string]any{
		"Name": w.name + "-" + c.name, "Namespace": w.namespace, "Workload": w.name, "Port": w.port,
		"Paths": paths, "Fault": c.fault, "Rollback": c.rollback,
	}))
	ds, err := drills.Load(w.name+"-"+c.name+".yaml", src.Bytes())
	require.NoError(t, err, "%s", src.String())
	require.Len(t, ds, 1)
	d := ds[0]
	g := d.Spec.Guard
	require.Empty(t, g.Rules, "the drill writes no rules")
	require.Empty(t, g.RequestRateExpr, "the drill writes no request-rate expression")
	require.Empty(t, g.Statistical.ErrorsExpr+g.Statistical.TotalExpr, "the drill writes no statistical expressions")

	start := time.Now()
	res, err := runner.New(cs, runner.WithLogger(stacktest.Logger())).Run(context.Background(), d)
	require.NoError(t, err)
	logResult(t, res)
	t.Logf("drill %s took %s", d.Metadata.Name, time.Since(start).Round(time.Millisecond))

	detected := detectedEvent(res)
	require.NotNil(t, detected, "a 'target metrics detected' event")
	require.Equal(t, string(convention), detected.Attributes["convention"], detected.Message)
	require.Equal(t, drills.VerdictPassed, res.Verdict, res.Reason)
	require.Equal(t, drills.VerdictPassed, check(t, res, "expect rollback").Verdict)
	_, rolled := rolledBackAudit(res)
	require.Equal(t, c.rollback, rolled, "rollback in the audit: %+v", res.Audit)
	require.Positive(t, kinds(res)[drills.EventProof], "the fault was proven")
	return res
}

// detectedEvent is the result's "target metrics detected" event, if any.
func detectedEvent(r *drills.Result) *drills.Event {
	for i, e := range r.Events {
		if e.Kind == drills.EventNote && strings.HasPrefix(e.Message, "target metrics detected") {
			return &r.Events[i]
		}
	}
	return nil
}

// rolledBackAudit returns the first successful audit row, if any.
func rolledBackAudit(r *drills.Result) (drills.AuditRecord, bool) {
	for _, a := range r.Audit {
		if a.Success {
			return a, true
		}
	}
	return drills.AuditRecord{}, false
}

// requireRunning checks w is back on its original image, available.
func requireRunning(t *testing.T, cs kubernetes.Interface, w foreignWorkload) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	require.NoError(t, stack.WaitAvailable(ctx, cs, w.namespace, w.name, time.Minute))
	dep, err := cs.AppsV1().Deployments(w.namespace).Get(ctx, w.name, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, w.image, dep.Spec.Template.Spec.Containers[0].Image)
	require.Empty(t, dep.Spec.Template.Spec.Containers[0].Env, "no env left by a bad-config push")
}

// TestForeignWorkloads drills workloads firedrill did not write, each
// reporting its requests in another convention, with no PromQL in the
// drills: a bad release is reverted, a benign one is not, a pod kill is
// healed by Kubernetes alone. A last case puts two services named shop and
// shop-api in one namespace: a bad release of shop is reverted while
// shop-api, whose name starts with shop's and which fails a fifth of its
// requests all along, is never touched. The workloads run in parallel,
// one namespace each.
func TestForeignWorkloads(t *testing.T) {
	st := shared.Stack(t)
	cfg, err := st.Cluster().RESTConfig()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	imageDir := t.TempDir()
	start := time.Now()
	t.Cleanup(func() { t.Logf("foreign workloads: %s wall time", time.Since(start).Round(time.Second)) })

	type workloadCase struct {
		w          foreignWorkload
		img        *foreignImage
		convention drills.MetricsConvention
		paths      []string
		cases      []foreignCase
	}
	podKill := foreignCase{name: "pod-kill", fault: `{type: pod-kill, selector: {mode: one}, podKill: {gracePeriodSeconds: 0}}`}
	all := []workloadCase{
		{
			// podinfo as its own kustomize manifests run it: API on 9898,
			// metrics (and a /healthz outside the API's middlewares) on 9797.
			w: foreignWorkload{name: "podinfo", namespace: "fd-podinfo", image: "podinfo:6.9.2",
				args: []string{"--port=9898", "--port-metrics=9797", "--level=warn"},
				port: 9898, metricsPort: 9797, metricsPath: "/metrics", readyPort: 9797, readyPath: "/healthz"},
			img: podinfoImage, convention: drills.ConventionPrometheus,
			paths: []string{"/api/info", "/version"},
			cases: []foreignCase{
				{name: "bad-release", fault: `{type: bad-image, badImage: {image: "podinfo:6.9.2-random-error"}}`, rollback: true},
				{name: "benign-release", fault: `{type: bad-config, badConfig: {env: {PODINFO_UI_COLOR: "#ff0000"}}}`},
				podKill,
			},
		},
		{
			w: foreignWorkload{name: "otel", namespace: "fd-otel", image: "otel-workload:v1",
				port: 8080, metricsPort: 9464, metricsPath: "/metrics", readyPort: 8080, readyPath: "/healthz"},
			img: otelImage, convention: drills.ConventionOpenTelemetry,
			paths: []string{"/items/{{Rand 100}}"},
			cases: []foreignCase{
				{name: "bad-release", fault: `{type: bad-config, badConfig: {env: {ERROR_SHARE: "0.2"}}}`, rollback: true},
				{name: "benign-release", fault: `{type: bad-image, badImage: {image: "otel-workload:v2"}}`},
				podKill,
			},
		},
		{
			w: foreignWorkload{name: "micrometer", namespace: "fd-micrometer", image: "micrometer-workload:v1",
				port: 8080, metricsPort: 8080, metricsPath: "/actuator/prometheus", readyPort: 8080, readyPath: "/actuator/health"},
			img: micrometerImage, convention: drills.ConventionMicrometer,
			paths: []string{"/orders/{{Rand 100}}"},
			cases: []foreignCase{
				{name: "bad-release", fault: `{type: bad-image, badImage: {image: "micrometer-workload:v2-errors"}}`, rollback: true},
				{name: "benign-release", fault: `{type: bad-image, badImage: {image: "micrometer-workload:v2"}}`},
				podKill,
			},
		},
	}
	// The workloads run concurrently, one namespace each. Not t.Parallel:
	// go test runs at most -parallel (GOMAXPROCS, 2 here) parallel tests at
	// once, and these spend their time waiting on the cluster.
	var wg sync.WaitGroup
	defer wg.Wait()
	for _, wc := range all {
		wg.Go(func() {
			t.Run(wc.w.name, func(t *testing.T) {
				wc.img.ensure(t, st, imageDir)
				foreignNamespace(t, cs, wc.w.namespace)
				wc.w.deploy(t, cs)
				for _, c := range wc.cases {
					t.Run(c.name, func(t *testing.T) {
						res := runForeignDrill(t, cs, wc.w, wc.paths, c, wc.convention)
						if c.rollback {
							require.Equal(t, "revert", check(t, res, "expect strategy").Observed)
							require.NotNil(t, res.MTTD)
						}
						if c.name == "benign-release" {
							require.Zero(t, kinds(res)[drills.EventDetection], "no false alarm on a benign release")
						}
						requireRunning(t, cs, wc.w)
					})
				}
			})
		})
	}
	wg.Go(func() {
		t.Run("shop-and-shop-api", func(t *testing.T) {
			micrometerImage.ensure(t, st, imageDir)
			const ns = "fd-shop"
			foreignNamespace(t, cs, ns)
			shop := foreignWorkload{name: "shop", namespace: ns, image: "micrometer-workload:v1",
				port: 8080, metricsPort: 8080, metricsPath: "/actuator/prometheus", readyPort: 8080, readyPath: "/actuator/health"}
			api := shop
			api.name, api.image = "shop-api", "micrometer-workload:v2-errors"
			api.deploy(t, cs)
			shop.deploy(t, cs)
			before := neighbour(t, cs, ns, api.name)

			// shop-api answers requests all along and fails a fifth of them:
			// had shop's signals read shop-api's pods, its baseline could not
			// hold and the guard would see errors that are not shop's.
			ctx, stop := context.WithCancel(context.Background())
			var wg sync.WaitGroup
			wg.Go(func() { hitPods(ctx, t, before.podIPs, "/orders/1") })
			defer func() { stop(); wg.Wait() }()

			res := runForeignDrill(t, cs, shop, []string{"/orders/{{Rand 100}}"},
				foreignCase{name: "bad-release", fault: `{type: bad-image, badImage: {image: "micrometer-workload:v2-errors"}}`, rollback: true},
				drills.ConventionMicrometer)
			a, _ := rolledBackAudit(res)
			require.Contains(t, a.ServiceName, "shop", "%+v", a)
			require.NotContains(t, a.ServiceName, "shop-api", "%+v", a)
			require.Contains(t, detectedEvent(res).Message, `pod="shop-`)
			require.NotContains(t, detectedEvent(res).Message, `pod="shop-api-`, "shop's metrics were found on shop's pods")
			requireRunning(t, cs, shop)
			after := neighbour(t, cs, ns, api.name)
			require.Equal(t, before, after, "shop-api was not touched")
		})
	})
}

// neighbourState is what must not change on a Deployment a drill does not
// target.
type neighbourState struct {
	generation int64
	revision   string
	image      string
	pods       []string // name/uid/restarts
	podIPs     []string
}

func neighbour(t *testing.T, cs kubernetes.Interface, ns, name string) neighbourState {
	t.Helper()
	ctx := context.Background()
	dep, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
	require.NoError(t, err)
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
	require.NoError(t, err)
	s := neighbourState{generation: dep.Generation, revision: dep.Annotations["deployment.kubernetes.io/revision"],
		image: dep.Spec.Template.Spec.Containers[0].Image}
	for _, p := range pods.Items {
		restarts := int32(0)
		for _, c := range p.Status.ContainerStatuses {
			restarts += c.RestartCount
		}
		s.pods = append(s.pods, fmt.Sprintf("%s/%s/%d", p.Name, p.UID, restarts))
		s.podIPs = append(s.podIPs, p.Status.PodIP)
	}
	sort.Strings(s.pods)
	sort.Strings(s.podIPs)
	return s
}

// hitPods sends about ten requests a second to the pods at ips until ctx
// ends.
func hitPods(ctx context.Context, t *testing.T, ips []string, path string) {
	client := &http.Client{Timeout: 2 * time.Second}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	var sent, failed int
	defer func() { t.Logf("neighbour traffic: %d requests, %d answered 5xx", sent, failed) }()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		resp, err := client.Get(fmt.Sprintf("http://%s:8080%s", ips[i%len(ips)], path))
		sent++
		if err != nil {
			continue
		}
		_ = resp.Body.Close()
		if resp.StatusCode >= 500 {
			failed++
		}
	}
}
