package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	promapi "github.com/prometheus/client_golang/api"
	promv1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
	"github.com/firedrill/firedrill/engine/signals"
)

type guardFlags struct {
	kube           *kubeFlags
	prometheus     string
	auditDSN       string
	leaseNamespace string
	leaseName      string
	id             string
	metricsListen  string
	requestRate    string
	verbose        bool
}

// newGuardCmd is `firedrill guard`: the rollback engine as a long-running
// process (in-cluster or beside a drill).
func newGuardCmd() *cobra.Command {
	f := &guardFlags{kube: newKubeFlags()}
	cmd := &cobra.Command{
		Use:   "guard --prometheus URL [--kubeconfig K --context C ...] [--audit-dsn DSN] [--lease-namespace NS --lease-name N --id ID] [--metrics-listen ADDR] DRILL_OR_POLICY_FILE...",
		Short: "Run the rollback engine on the targets of drill files",
		Long: `Guard loads the guard policy (spec.guard) and target (spec.target) of every
drill in the files and runs the rollback engine on each target until SIGINT or
SIGTERM: it evaluates the PromQL rules, watches the Deployment, its
ReplicaSets and pods, decides with the rollback score, acts through the
strategies, audits every action and verifies the recovery.

With --lease-name only the replica that holds the coordination.k8s.io Lease
acts, and the Lease is released on shutdown.

The cluster is chosen as kubectl chooses it (--kubeconfig, --context,
--server, --request-timeout, ...; else $KUBECONFIG, ~/.kube/config or the
in-cluster service account). Every drill names its target's namespace:
--namespace, if given, must match it.

Guard does not take the restore strategies' snapshots: run firedrill snapshot
on the same files as the release's step before the rollout.

Exit codes: 0 stopped by a signal, 2 the engine could not run (bad usage,
unreadable or invalid drill file, no cluster, no audit store).`,
		Example: `  firedrill guard --prometheus http://127.0.0.1:9090 drills/examples/bad-image.yaml
  firedrill guard --prometheus http://prometheus:9090 --lease-namespace firedrill \
    --lease-name firedrill-guard --id "$POD_NAME" /etc/firedrill/*.yaml`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runGuard(cmd, f, args)
		},
	}
	fl := cmd.Flags()
	// kubectl's cluster flags; default: $KUBECONFIG, ~/.kube/config, or
	// the in-cluster service account.
	f.kube.register(fl, drillNamespaceUsage)
	fl.StringVar(&f.prometheus, "prometheus", "", "Prometheus URL (default: each drill's spec.prometheus.url)")
	fl.StringVar(&f.auditDSN, "audit-dsn", "", "audit store: a postgres:// URL or a SQLite file (default $FIREDRILL_HOME/audit.db)")
	fl.StringVar(&f.leaseNamespace, "lease-namespace", "", "namespace of the leader-election Lease (with --lease-name)")
	fl.StringVar(&f.leaseName, "lease-name", "", "name of the leader-election Lease; empty: no leader election")
	fl.StringVar(&f.id, "id", "", "identity in the Lease (default: the host name)")
	fl.StringVar(&f.metricsListen, "metrics-listen", "", "address to serve the engine's /metrics on, e.g. 127.0.0.1:9464")
	fl.StringVar(&f.requestRate, "request-rate-expr", "", "PromQL request rate behind the low-traffic guard (default: the drill's spec.guard.requestRateExpr, else "+engine.DefaultRequestRateExpr+")")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log every evaluation held back (debug)")
	return cmd
}

// guardPlan is one target to guard.
type guardPlan struct {
	name   string
	guard  drills.Guard
	target drills.Target
	prom   string
	p99    time.Duration
}

// guardedDrills loads the files, expands their scope placeholders and keeps
// the drills whose guard is enabled, in order; the first invalid file is
// the error.
func guardedDrills(files []string) ([]*drills.Drill, error) {
	var out []*drills.Drill
	for _, file := range files {
		ds, err := drills.LoadFile(file)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if err := d.ExpandScope(); err != nil {
				return nil, fmt.Errorf("%s: %w", file, err)
			}
			if d.GuardEnabled() {
				out = append(out, d)
			}
		}
	}
	return out, nil
}

func loadGuardPlans(f *guardFlags, files []string) ([]guardPlan, error) {
	ds, err := guardedDrills(files)
	if err != nil {
		return nil, err
	}
	if f.kube != nil {
		if err := f.kube.checkDrillNamespaces(ds); err != nil {
			return nil, fmt.Errorf("guard: %w", err)
		}
	}
	var plans []guardPlan
	for _, d := range ds {
		p := guardPlan{name: d.Metadata.Name, guard: *d.Spec.Guard, target: d.Spec.Target, prom: f.prometheus, p99: d.Spec.SLO.P99.Get(drills.DefaultP99)}
		if p.prom == "" && d.Spec.Prometheus != nil {
			p.prom = d.Spec.Prometheus.URL
		}
		plans = append(plans, p)
	}
	if len(plans) == 0 {
		return nil, errors.New("guard: no drill with the guard enabled in the given files")
	}
	return plans, nil
}

func runGuard(cmd *cobra.Command, f *guardFlags, files []string) error {
	if (f.leaseName == "") != (f.leaseNamespace == "") {
		return errors.New("guard: --lease-namespace and --lease-name go together")
	}
	if f.id != "" && f.leaseName == "" {
		return errors.New("guard: --id needs --lease-name")
	}
	plans, err := loadGuardPlans(f, files)
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	level := slog.LevelInfo
	if f.verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))

	rc, err := f.kube.restConfig()
	if err != nil {
		return fmt.Errorf("guard: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("guard: kubernetes client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(rc)
	if err != nil {
		return fmt.Errorf("guard: kubernetes dynamic client: %w", err)
	}
	audit, err := engine.OpenAudit(ctx, f.auditDSN)
	if err != nil {
		return fmt.Errorf("guard: %w", err)
	}
	defer audit.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := engine.NewMetrics(reg)
	if err != nil {
		return fmt.Errorf("guard: %w", err)
	}

	guards := make([]*engine.Guard, 0, len(plans))
	for _, p := range plans {
		opts := []engine.Option{
			engine.WithKubernetes(client), engine.WithDynamic(dyn), engine.WithAudit(audit), engine.WithMetrics(metrics),
			engine.WithLog(log.With("drill", p.name)), engine.WithRequestRateExpr(f.requestRate),
		}
		if p.prom != "" {
			c, err := promapi.NewClient(promapi.Config{Address: p.prom})
			if err != nil {
				return fmt.Errorf("guard: drill %s: prometheus %s: %w", p.name, p.prom, err)
			}
			api := promv1.NewAPI(c)
			opts = append(opts, engine.WithPrometheus(api))
			// What the drill leaves to the generated signals comes from
			// the target's metrics; without them the engine's fallbacks
			// apply, and the guard runs on.
			if signals.Needed(&p.guard) {
				sc := drills.TargetScope(p.target)
				m, err := signals.Detect(ctx, api, sc, p.target.Metrics, time.Now())
				if err != nil {
					log.Warn("guard: target metrics not found; the generated rules are left out", "drill", p.name, "error", err)
				} else {
					log.Info("guard: target metrics", "drill", p.name, "metrics", m.String())
					signals.Apply(&p.guard, m, sc, signals.Options{P99: p.p99})
				}
			}
		}
		g, err := engine.NewGuard(p.guard, p.target, opts...)
		if err != nil {
			return fmt.Errorf("guard: drill %s: %w", p.name, err)
		}
		guards = append(guards, g)
	}

	if f.metricsListen != "" {
		stop, err := serveMetrics(ctx, f.metricsListen, reg, log)
		if err != nil {
			return err
		}
		defer stop()
	}

	runAll := func(ctx context.Context) {
		var wg sync.WaitGroup
		for _, g := range guards {
			wg.Go(func() {
				if err := g.Run(ctx); err != nil {
					log.Error("guard stopped", "error", err)
				}
			})
		}
		wg.Wait()
	}
	log.Info("firedrill guard starting", "targets", len(guards), "lease", f.leaseName)
	if f.leaseName != "" {
		id := f.id
		if id == "" {
			if id, err = os.Hostname(); err != nil {
				return fmt.Errorf("guard: identity: %w", err)
			}
		}
		le := engine.LeaderElection{Namespace: f.leaseNamespace, Name: f.leaseName, Identity: id}
		if err := engine.RunElected(engine.WithLogger(ctx, log), client, le, runAll); err != nil {
			return fmt.Errorf("guard: %w", err)
		}
	} else {
		runAll(ctx)
	}
	log.Info("firedrill guard stopped")
	return nil
}

// serveMetrics serves reg on addr until ctx ends or stop is called.
func serveMetrics(ctx context.Context, addr string, reg *prometheus.Registry, log *slog.Logger) (stop func(), err error) {
	ln, err := (&net.ListenConfig{}).Listen(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics server", "error", err)
		}
	}()
	log.Info("serving metrics", "addr", ln.Addr().String())
	return func() {
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}, nil
}
