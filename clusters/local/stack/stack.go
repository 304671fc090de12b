package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/firedrill/firedrill/clusters/images"
	"github.com/firedrill/firedrill/clusters/local"
	"github.com/firedrill/firedrill/clusters/local/postgres"
	"github.com/firedrill/firedrill/clusters/local/prometheus"
	"github.com/firedrill/firedrill/deploy"
)

// Names of the demo objects.
const (
	Namespace  = "firedrill-demo"
	Deployment = "payment"
	Service    = "payment"
	// PaymentPackage is the Go package of the demo workload.
	PaymentPackage = "./cmd/payment"
)

// PaymentTags are the versions of the demo workload: one binary, one image
// tarball, a config per tag. v2-buggy fails 10% of requests so that it is
// clearly above the drills' 5% error-rate rule.
var PaymentTags = []images.Tag{
	{Ref: "payment:v1", Env: []string{"PAYMENT_VERSION=v1", "PAYMENT_BEHAVIOUR=good"}},
	{Ref: "payment:v2-buggy", Env: []string{"PAYMENT_VERSION=v2-buggy", "PAYMENT_BEHAVIOUR=buggy", "PAYMENT_FAULT_RATE=0.10"}},
	{Ref: "payment:v2-slow", Env: []string{"PAYMENT_VERSION=v2-slow", "PAYMENT_BEHAVIOUR=slow"}},
	{Ref: "payment:v2-crash", Env: []string{"PAYMENT_VERSION=v2-crash", "PAYMENT_BEHAVIOUR=crash"}},
	{Ref: "payment:v2-corrupt", Env: []string{"PAYMENT_VERSION=v2-corrupt", "PAYMENT_BEHAVIOUR=corrupt"}},
}

// Option configures a Stack.
type Option func(*Stack)

// WithCluster uses cl as the local cluster (default: local.New()).
func WithCluster(cl *local.Cluster) Option { return func(s *Stack) { s.cluster = cl } }

// WithSourceDir sets the firedrill source tree the payment image is built
// from (default: the current directory).
func WithSourceDir(dir string) Option { return func(s *Stack) { s.srcDir = dir } }

// WithLogger sets the progress logger (default: none).
func WithLogger(l *slog.Logger) Option { return func(s *Stack) { s.log = l } }

// WithTimeout bounds each wait (default 3m).
func WithTimeout(d time.Duration) Option { return func(s *Stack) { s.timeout = d } }

// WithPrometheusListen sets Prometheus's loopback address (default
// 127.0.0.1:9090).
func WithPrometheusListen(addr string) Option { return func(s *Stack) { s.promListen = addr } }

// WithScrapeInterval sets how often Prometheus scrapes the pods (default
// prometheus.DefaultScrapeInterval, 500 ms); a real cluster's 15 s or 30 s
// shows how the drills fare there.
func WithScrapeInterval(d time.Duration) Option { return func(s *Stack) { s.scrape = d } }

// Stack is the demo stack on one local cluster.
type Stack struct {
	cluster    *local.Cluster
	srcDir     string
	log        *slog.Logger
	timeout    time.Duration
	promListen string
	scrape     time.Duration
}

// New builds a Stack.
func New(opts ...Option) *Stack {
	s := &Stack{srcDir: ".", log: slog.New(slog.NewTextHandler(io.Discard, nil)), timeout: 3 * time.Minute, promListen: prometheus.DefaultListen}
	for _, o := range opts {
		o(s)
	}
	if s.cluster == nil {
		s.cluster = local.New(local.WithLogger(s.log))
	}
	return s
}

// Cluster is the stack's local cluster.
func (s *Stack) Cluster() *local.Cluster { return s.cluster }

func (s *Stack) dir(name string) string { return filepath.Join(s.cluster.WorkDir(), "stack", name) }

// Postgres is the stack's database server.
func (s *Stack) Postgres() (*postgres.Server, error) {
	return postgres.New(
		postgres.WithWorkDir(s.dir("postgres")),
		postgres.WithListenAddresses(postgres.DefaultPodAddress),
		postgres.WithLogger(s.log),
	)
}

// Prometheus is the stack's Prometheus server.
func (s *Stack) Prometheus() *prometheus.Server {
	opts := []prometheus.Option{
		prometheus.WithListen(s.promListen),
		prometheus.WithRuleFiles(s.dir("rules.yaml")),
		prometheus.WithLogger(s.log),
	}
	if s.scrape > 0 {
		opts = append(opts, prometheus.WithScrapeInterval(s.scrape))
	}
	return prometheus.New(s.dir("prometheus"), s.cluster.Kubeconfig(), opts...)
}

// Up brings everything up, reusing what already runs. On failure it leaves
// what it started for Down, which the caller runs (the CLI does so unless
// asked to keep it).
func (s *Stack) Up(ctx context.Context) error {
	s.log.Info("bringing up the local cluster")
	if err := s.cluster.Create(ctx); err != nil {
		return fmt.Errorf("stack: cluster: %w", err)
	}
	if err := os.MkdirAll(s.dir(""), 0o755); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	// The postgres user must be able to pass through to its folder: open
	// the folders of firedrill's home for traversal, and nothing above it
	// (the work folder is <home>/clusters/<name>).
	home := filepath.Dir(filepath.Dir(s.cluster.WorkDir()))
	for d := s.dir(""); ; d = filepath.Dir(d) {
		if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
			_ = os.Chmod(d, fi.Mode().Perm()|0o011)
		}
		if d == home || d == filepath.Dir(d) {
			break
		}
	}
	pg, err := s.Postgres()
	if err != nil {
		return fmt.Errorf("stack: postgres: %w", err)
	}
	s.log.Info("starting PostgreSQL", "listen", postgres.DefaultPodAddress)
	if err := pg.Start(ctx); err != nil {
		return fmt.Errorf("stack: postgres: %w", err)
	}
	podDSN, err := pg.PodDSN()
	if err != nil {
		return fmt.Errorf("stack: postgres: %w", err)
	}
	s.log.Info("building the payment images", "tags", len(PaymentTags))
	tarball := s.dir("payment.tar")
	if _, err := images.Build(ctx, PaymentPackage, PaymentTags, tarball, images.WithDir(s.srcDir), images.WithLogger(s.log)); err != nil {
		return fmt.Errorf("stack: payment image: %w", err)
	}
	if err := s.cluster.LoadImage(ctx, tarball); err != nil {
		return fmt.Errorf("stack: load payment image: %w", err)
	}
	cfg, err := s.cluster.RESTConfig()
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	objs, err := demoObjects()
	if err != nil {
		return err
	}
	ap, err := deploy.NewApplier(cfg)
	if err != nil {
		return err
	}
	s.log.Info("applying the demo manifests", "namespace", Namespace)
	if err := ap.Apply(ctx, objs, deploy.Options{Mutate: fillSecret(podDSN)}); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	rules, err := deploy.File("prometheus/rules.yaml")
	if err != nil {
		return err
	}
	if err := os.WriteFile(s.dir("rules.yaml"), rules, 0o644); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	s.log.Info("starting Prometheus", "url", "http://"+s.promListen)
	if err := s.Prometheus().Start(ctx); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	s.log.Info("waiting for the payment Deployment to become Available")
	if err := WaitAvailable(ctx, cs, Namespace, Deployment, s.timeout); err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	return nil
}

// Down stops Prometheus and PostgreSQL and deletes the cluster. It keeps
// going past errors and reports them all.
func (s *Stack) Down(ctx context.Context) error {
	var errs []error
	if err := s.Prometheus().Delete(ctx); err != nil {
		errs = append(errs, err)
	}
	if pg, err := s.Postgres(); err != nil {
		errs = append(errs, err)
	} else if err := pg.Delete(ctx); err != nil && !errors.Is(err, postgres.ErrNotInstalled) {
		errs = append(errs, err)
	}
	if err := s.cluster.Delete(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func demoObjects() ([]*unstructured.Unstructured, error) {
	b, err := deploy.Manifests("demo")
	if err != nil {
		return nil, err
	}
	return deploy.Decode(b)
}

// fillSecret puts the real DSN into the payment-db Secret.
func fillSecret(dsn string) deploy.Mutate {
	return func(obj *unstructured.Unstructured) error {
		if obj.GetKind() != "Secret" || obj.GetName() != "payment-db" {
			return nil
		}
		return unstructured.SetNestedField(obj.Object, dsn, "stringData", "PAYMENT_DSN")
	}
}

// WaitAvailable waits until the Deployment's newest revision is fully
// rolled out and available.
func WaitAvailable(ctx context.Context, cs kubernetes.Interface, ns, name string, timeout time.Duration) error {
	var last string
	err := wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			last = err.Error()
			return false, nil
		}
		last = fmt.Sprintf("updated %d, ready %d, available %d of %d", d.Status.UpdatedReplicas, d.Status.ReadyReplicas, d.Status.AvailableReplicas, *d.Spec.Replicas)
		return rolledOut(d), nil
	})
	if err != nil {
		return fmt.Errorf("deployment %s/%s not available: %s: %w", ns, name, last, err)
	}
	return nil
}

func rolledOut(d *appsv1.Deployment) bool {
	want := int32(1)
	if d.Spec.Replicas != nil {
		want = *d.Spec.Replicas
	}
	return d.Status.ObservedGeneration >= d.Generation &&
		d.Status.UpdatedReplicas == want &&
		d.Status.Replicas == want &&
		d.Status.AvailableReplicas == want
}

// LedgerDSN returns the URL of the demo ledger database from this host, for
// the drills' ${FIREDRILL_LEDGER_DSN}. The stack must be up (by this or
// another process). It carries a password: never log it.
func (s *Stack) LedgerDSN() (string, error) {
	pg, err := s.Postgres()
	if err != nil {
		return "", fmt.Errorf("stack: postgres: %w", err)
	}
	if err := pg.Attach(); err != nil {
		return "", fmt.Errorf("stack: %w", err)
	}
	return pg.DSN(), nil
}

// Canary is the name of the canary track's Deployment (deploy/canary).
const Canary = "payment-canary"

// InstallCanary applies the canary track (deploy/canary: its own ConfigMap
// and a one-pod Deployment behind the payment Service) on the cluster of
// cfg and waits until it is available. The demo stack must be up: the
// canary reuses its Secret and image.
func InstallCanary(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	objs, err := canaryObjects()
	if err != nil {
		return err
	}
	ap, err := deploy.NewApplier(cfg)
	if err != nil {
		return err
	}
	if err := ap.Apply(ctx, objs, deploy.Options{}); err != nil {
		return fmt.Errorf("stack: canary: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	if err := WaitAvailable(ctx, cs, Namespace, Canary, timeout); err != nil {
		return fmt.Errorf("stack: canary: %w", err)
	}
	return nil
}

// RemoveCanary deletes what InstallCanary applied (objects already gone
// are not an error) and waits up to timeout for the canary's pods to be
// gone, so that the next drill measures the stable track alone.
func RemoveCanary(ctx context.Context, cfg *rest.Config, timeout time.Duration) error {
	objs, err := canaryObjects()
	if err != nil {
		return err
	}
	ap, err := deploy.NewApplier(cfg)
	if err != nil {
		return err
	}
	if err := ap.Delete(ctx, objs); err != nil {
		return fmt.Errorf("stack: canary: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return fmt.Errorf("stack: %w", err)
	}
	sel := "app=payment,track=canary"
	err = wait.PollUntilContextTimeout(ctx, 500*time.Millisecond, timeout, true, func(ctx context.Context) (bool, error) {
		pods, err := cs.CoreV1().Pods(Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return false, nil // retried until the timeout
		}
		return len(pods.Items) == 0, nil
	})
	if err != nil {
		return fmt.Errorf("stack: canary pods (%s) still there: %w", sel, err)
	}
	return nil
}

func canaryObjects() ([]*unstructured.Unstructured, error) {
	b, err := deploy.Manifests("canary")
	if err != nil {
		return nil, err
	}
	return deploy.Decode(b)
}
