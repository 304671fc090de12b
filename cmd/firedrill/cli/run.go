package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/firedrill/firedrill/clusters/local"
	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/engine"
	"github.com/firedrill/firedrill/reports"
	"github.com/firedrill/firedrill/runner"
	"github.com/firedrill/firedrill/runner/schedule"
)

// runFlags are the flags of `firedrill run`.
type runFlags struct {
	kube       *kubeFlags
	local      bool
	localName  string
	home       string
	reportDir  string
	prometheus string
	auditDSN   string
	noGuard    bool
	quiet      bool
	verbose    bool
	// allowNamespaces opt namespaces in without the label.
	allowNamespaces []string
	// junitInconclusive is --junit-inconclusive: error or skipped.
	junitInconclusive string
	// dryRun is --dry-run: preflight only, nothing injected.
	dryRun bool
}

func (f *runFlags) register(cmd *cobra.Command) {
	f.registerRunner(cmd)
	fl := cmd.Flags()
	fl.StringVar(&f.reportDir, "report-dir", "_out/run", "folder for junit.xml, results.json, summary.md, report.html and runs/RUNID.json (\"\" writes none)")
	fl.StringVar(&f.junitInconclusive, "junit-inconclusive", string(reports.JUnitError), "how junit.xml writes inconclusive drills, phases and checks: error (red, with the reason) or skipped")
	fl.BoolVarP(&f.quiet, "quiet", "q", false, "no live progress, only the summary")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log the runner's and the engine's steps")
	fl.BoolVar(&f.dryRun, "dry-run", false, "preview: check each drill and print its target and the pods each fault would hit, inject nothing (verdict skipped, exit 0 when every preflight passes)")
}

// registerRunner registers the flags that choose the cluster and configure
// the runner (shared by run and schedule).
func (f *runFlags) registerRunner(cmd *cobra.Command) {
	fl := cmd.Flags()
	f.registerCluster(cmd, drillNamespaceUsage, "run on the embedded local cluster's demo stack (make demo-up); sets FIREDRILL_LEDGER_DSN from its PostgreSQL when unset")
	fl.StringVar(&f.prometheus, "prometheus", "", "Prometheus URL for every drill (default: each drill's spec.prometheus.url)")
	fl.StringSliceVar(&f.allowNamespaces, "allow-namespace", nil, "let drills target this namespace although it is not labelled firedrill.dev/drills=enabled (repeatable)")
	fl.StringVar(&f.auditDSN, "audit-dsn", "", "engine audit store: a postgres:// URL or a SQLite file (default: a SQLite file per run under the report folder)")
	fl.BoolVar(&f.noGuard, "no-guard", false, "disable the rollback engine: show what the faults do unguarded (the counterfactual)")
}

// registerCluster registers the flags that choose the cluster: kubectl's
// --kubeconfig, --context, --namespace (nsUsage), --request-timeout, …
// (without them: $KUBECONFIG, ~/.kube/config, or the in-cluster service
// account), or --local with --name and --home.
func (f *runFlags) registerCluster(cmd *cobra.Command, nsUsage, localUsage string) {
	fl := cmd.Flags()
	f.kube = newKubeFlags()
	f.kube.register(fl, nsUsage)
	fl.BoolVar(&f.local, "local", false, localUsage)
	fl.StringVar(&f.localName, "name", local.DefaultName, "with --local: the local cluster's name")
	fl.StringVar(&f.home, "home", "", "with --local: firedrill home folder (default $FIREDRILL_HOME or "+local.DefaultHome+")")
}

// scheduleRunner returns the schedule command's RunFunc: the drill runner
// on the cluster the flags name.
func (f *runFlags) scheduleRunner(cmd *cobra.Command) schedule.RunFunc {
	var once sync.Once
	var r *runner.Runner
	var setupErr error
	f.quiet = true
	return func(ctx context.Context, d *drills.Drill) (*drills.Result, error) {
		once.Do(func() {
			cfg, client, err := f.client()
			if err != nil {
				setupErr = err
				return
			}
			// The audit store lives as long as the scheduler.
			opts, _, err := f.runnerOptions(context.WithoutCancel(ctx), cmd, cfg, client)
			if err != nil {
				setupErr = err
				return
			}
			r = runner.New(client, opts...)
		})
		if setupErr != nil {
			return nil, setupErr
		}
		if err := f.kube.checkDrillNamespaces([]*drills.Drill{d}); err != nil {
			return nil, err
		}
		if f.prometheus != "" {
			d.Spec.Prometheus = &drills.Prometheus{URL: f.prometheus}
		}
		res, err := r.Run(ctx, d)
		if res != nil {
			if id := schedule.RunID(ctx); id != "" {
				res.RunID = id
			}
		}
		return res, err
	}
}

// newRunCmd returns `firedrill run`.
func newRunCmd() *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run DRILL... [--kubeconfig K --context C ... | --local] [--report-dir DIR]",
		Short: "Run drills: inject their faults, let the engine roll back, judge SLOs, MTTD and MTTR",
		Long: `Run runs each drill (a file or a folder of *.yaml drills), one after the
other, through its phases: preflight (namespaces opted in with the label
firedrill.dev/drills=enabled or --allow-namespace, no network or process
fault on a hostNetwork, hostPID or privileged pod, target healthy,
Prometheus answering, faults buildable; leftovers of crashed runs swept) →
baseline (traffic on, the SLOs must hold before any fault, else the drill
is inconclusive) → inject → observe (proof that each fault took effect,
the engine's detection, decision and action, a 1 s timeline) → verify
(SLOs hold for the stability window, consistency checks) → teardown (traffic and engine
stopped, faults removed, what the drill changed on the target put back,
what others changed meanwhile left as found and reported), which always
runs, also on Ctrl-C or SIGTERM.

MTTD is the first fault's injection to the engine's first detection (with
--no-guard: to the first SLO breach); MTTR is the injection to the start of
the stretch over which the SLOs held for the stability window.

Reports go to --report-dir: junit.xml, results.json, summary.md,
report.html for all drills of the call, and runs/RUNID.json per drill for
'firedrill report publish'. In junit.xml an inconclusive or error drill is an
<error> with the reason (CI shows it red); --junit-inconclusive=skipped
writes inconclusive ones as skipped instead.

The cluster is chosen as kubectl chooses it: --kubeconfig, --context,
--cluster, --user, --server, --token, --as, --request-timeout and the other
kubectl flags, else $KUBECONFIG, ~/.kube/config or the in-cluster service
account; --local picks the embedded local cluster instead. Every drill
names its target's namespace (spec.target.namespace), so --namespace does
not move a drill: given, it must match the namespace of every drill, or
the run is refused.

Exit codes: 0 every drill passed, 1 a verdict failed, 2 a drill could not
run or could not be judged (error, inconclusive), or bad usage.`,
		Example: `  firedrill run --local drills/examples/bad-image.yaml
  firedrill run --kubeconfig ~/.kube/config --report-dir out/ drills/
  firedrill run --context staging --request-timeout 10s drills/examples/pod-kill.yaml
  firedrill run --local --no-guard drills/examples/bad-image.yaml   # the counterfactual`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runDrills(cmd, f, args)
		},
	}
	f.register(cmd)
	return cmd
}

// loadDrillArgs loads drill files and folders (their *.yaml and *.yml).
func loadDrillArgs(args []string) ([]*drills.Drill, error) {
	var files []string
	for _, a := range args {
		fi, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			files = append(files, a)
			continue
		}
		for _, pat := range []string{"*.yaml", "*.yml"} {
			m, _ := filepath.Glob(filepath.Join(a, pat))
			files = append(files, m...)
		}
	}
	var out []*drills.Drill
	var errs []error
	for _, file := range files {
		ds, err := drills.LoadFile(file)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, ds...)
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no drill in %s", strings.Join(args, ", "))
	}
	return out, nil
}

// client builds the REST config and Kubernetes client for the kubectl
// flags or --local.
func (f *runFlags) client() (*rest.Config, kubernetes.Interface, error) {
	if set := f.kube.changed(); f.local && len(set) > 0 {
		return nil, nil, fmt.Errorf("--local and %s exclude each other", strings.Join(set, ", "))
	}
	if f.local {
		opts := []local.Option{local.WithName(f.localName)}
		if f.home != "" {
			opts = append(opts, local.WithHome(f.home))
		}
		st := stack.New(stack.WithCluster(local.New(opts...)))
		if _, ok := os.LookupEnv("FIREDRILL_LEDGER_DSN"); !ok {
			dsn, err := st.LedgerDSN()
			if err != nil {
				return nil, nil, fmt.Errorf("--local: %w (run `make demo-up` or `firedrill demo up` first)", err)
			}
			_ = os.Setenv("FIREDRILL_LEDGER_DSN", dsn)
		}
		cfg, err := st.Cluster().RESTConfig()
		if err != nil {
			return nil, nil, fmt.Errorf("--local: %w (run `make demo-up` or `firedrill demo up` first)", err)
		}
		cs, err := kubernetes.NewForConfig(cfg)
		return cfg, cs, err
	}
	rc, err := f.kube.restConfig()
	if err != nil {
		return nil, nil, err
	}
	cs, err := kubernetes.NewForConfig(rc)
	return rc, cs, err
}

// runnerOptions are the runner options the flags ask for.
func (f *runFlags) runnerOptions(ctx context.Context, cmd *cobra.Command, cfg *rest.Config, client kubernetes.Interface) ([]runner.Option, func(), error) {
	level := slog.LevelWarn
	if f.verbose {
		level = slog.LevelInfo
	}
	log := slog.New(slog.NewTextHandler(cmd.ErrOrStderr(), &slog.HandlerOptions{Level: level}))
	opts := []runner.Option{runner.WithLogger(log), runner.WithBackends(drillBackends(cfg, client, log))}
	if !f.quiet {
		opts = append(opts, runner.WithProgress(progressPrinter(cmd.ErrOrStderr())))
	}
	if f.noGuard {
		opts = append(opts, runner.WithoutGuard())
	}
	if f.dryRun {
		opts = append(opts, runner.WithDryRun())
	}
	if len(f.allowNamespaces) > 0 {
		opts = append(opts, runner.WithAllowedNamespaces(f.allowNamespaces...))
	}
	if cfg != nil {
		// An Argo Rollouts Rollout target: its preflight, faults,
		// teardown, and the engine's watch (its signals) and revert.
		dyn, err := dynamic.NewForConfig(cfg)
		if err != nil {
			return nil, nil, fmt.Errorf("kubernetes dynamic client: %w", err)
		}
		opts = append(opts, runner.WithDynamic(dyn))
	}
	closer := func() {}
	switch {
	case f.auditDSN != "":
		st, err := engine.OpenAudit(ctx, f.auditDSN)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, runner.WithAudit(st))
		closer = func() { _ = st.Close() }
	case f.reportDir != "":
		opts = append(opts, runner.WithAuditDir(filepath.Join(f.reportDir, "audit")))
	}
	return opts, closer, nil
}

func runDrills(cmd *cobra.Command, f *runFlags, args []string) error {
	junitMode, err := reports.ParseJUnitInconclusive(f.junitInconclusive)
	if err != nil {
		return fmt.Errorf("--junit-inconclusive: %w", err)
	}
	ds, err := loadDrillArgs(args)
	if err != nil {
		return err
	}
	if err := f.kube.checkDrillNamespaces(ds); err != nil {
		return err
	}
	cfg, client, err := f.client()
	if err != nil {
		return err
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	opts, closeAudit, err := f.runnerOptions(ctx, cmd, cfg, client)
	if err != nil {
		return err
	}
	defer closeAudit()
	r := runner.New(client, opts...)
	out := cmd.OutOrStdout()
	var results []drills.Result
	for _, d := range ds {
		if f.prometheus != "" {
			d.Spec.Prometheus = &drills.Prometheus{URL: f.prometheus}
		}
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(cmd.ErrOrStderr(), "==> drill %s (%s)\n", d.Metadata.Name, d.Source())
		res, err := r.Run(ctx, d)
		if err != nil {
			return err
		}
		results = append(results, *res)
		printResult(out, res)
		if f.reportDir != "" {
			if _, err := reports.WriteRun(filepath.Join(f.reportDir, "runs"), *res); err != nil {
				return err
			}
		}
	}
	if f.reportDir != "" {
		paths, err := reports.WriteFiles(context.WithoutCancel(ctx), f.reportDir, results, reports.WithJUnitInconclusive(junitMode))
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "reports: %s\n", strings.Join(paths, ", "))
	}
	return verdictExit(results, ctx.Err())
}

// verdictExit maps the results to the exit code: 1 if one failed, else 2
// if one could not run or be judged, else 0 (a dry run's skipped verdict,
// its preflight passed, counts as 0).
func verdictExit(results []drills.Result, interrupted error) error {
	var failedN, otherN []string
	for _, r := range results {
		switch r.Verdict {
		case drills.VerdictPassed, drills.VerdictSkipped:
		case drills.VerdictFailed:
			failedN = append(failedN, r.Drill)
		default:
			otherN = append(otherN, r.Drill+" ("+string(r.Verdict)+")")
		}
	}
	switch {
	case len(failedN) > 0:
		return failed(fmt.Errorf("%d of %d drills failed: %s", len(failedN), len(results), strings.Join(failedN, ", ")))
	case len(otherN) > 0:
		return fmt.Errorf("%d of %d drills could not be judged: %s", len(otherN), len(results), strings.Join(otherN, ", "))
	case interrupted != nil:
		return fmt.Errorf("interrupted: %w", interrupted)
	}
	return nil
}

// printResult prints one drill's verdict, MTTD, MTTR and checks.
func printResult(w io.Writer, r *drills.Result) {
	fmt.Fprintf(w, "%s: %s", r.Drill, strings.ToUpper(string(r.Verdict)))
	if r.Reason != "" {
		fmt.Fprintf(w, " — %s", r.Reason)
	}
	fmt.Fprintln(w)
	dur := func(d *drills.Duration) string {
		if d == nil {
			return "—"
		}
		return d.Duration.Round(100 * time.Millisecond).String()
	}
	if r.Verdict == drills.VerdictSkipped {
		for _, e := range r.Events {
			if e.Attributes["dryRun"] == "true" {
				fmt.Fprintf(w, "  %s\n", e.Message)
			}
		}
		return
	}
	fmt.Fprintf(w, "  MTTD %s  MTTR %s  engine %s\n", dur(r.MTTD), dur(r.MTTR), map[bool]string{true: "on", false: "off"}[r.GuardEnabled])
	for _, c := range r.Checks {
		fmt.Fprintf(w, "  [%s] %s: expected %s, observed %s\n", c.Verdict, c.Name, c.Expected, c.Observed)
	}
}

// progressPrinter prints the runner's live progress lines.
func progressPrinter(w io.Writer) func(runner.Progress) {
	var mu sync.Mutex
	return func(p runner.Progress) {
		mu.Lock()
		defer mu.Unlock()
		line := fmt.Sprintf("  [%s %6s] %-9s", p.Drill, p.Elapsed.Round(time.Second), p.Phase)
		if p.HasTraffic {
			line += fmt.Sprintf(" err %5.2f%% p99 %-7s %5.1f ok/s", 100*p.ErrorRate, p.P99.Round(time.Millisecond), p.Throughput)
		}
		if p.Message != "" {
			line += "  " + p.Message
		}
		fmt.Fprintln(w, line)
	}
}
