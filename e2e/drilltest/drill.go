package drilltest

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/features"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/reports"
	"github.com/firedrill/firedrill/runner"
)

// RunOption configures RunDrill and Feature.
type RunOption func(*runConfig)

type runConfig struct {
	reportDir  string
	runnerOpts []runner.Option
	edits      []func(*drills.Drill)
	client     kubernetes.Interface
}

// WithReportDir writes each drill's reports into DIR/<drill name>
// (default: a t.TempDir, removed after the test).
func WithReportDir(dir string) RunOption { return func(c *runConfig) { c.reportDir = dir } }

// WithRunnerOptions passes options to runner.New (WithLogger,
// WithProgress, WithoutGuard, WithBackends...).
func WithRunnerOptions(opts ...runner.Option) RunOption {
	return func(c *runConfig) { c.runnerOpts = append(c.runnerOpts, opts...) }
}

// WithEdit changes each loaded drill before it runs (shorter timeouts,
// another expectation...).
func WithEdit(fn func(*drills.Drill)) RunOption {
	return func(c *runConfig) { c.edits = append(c.edits, fn) }
}

// WithClient runs the drills with client instead of a client built from
// the environment's kubeconfig.
func WithClient(client kubernetes.Interface) RunOption {
	return func(c *runConfig) { c.client = client }
}

// Feature returns a feature named after the drill file (its base name
// without extension) with one assess step, "run", that is RunDrill(path).
func Feature(path string, opts ...RunOption) types.Feature {
	name := strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	return features.New(name).WithLabel("type", "drill").Assess("run", RunDrill(path, opts...)).Feature()
}

// RunDrill returns an assess step that loads the drill file at path and,
// for each drill in it (as a subtest named after the drill when the file
// holds several), runs it with runner.New(client, opts...).Run against
// the environment's cluster, writes its reports (see WithReportDir), logs
// its summary, reports each phase and each check as a subtest that fails
// when that phase or check did (see Report), and fails the test when the
// verdict is not passed. The results are in the returned context
// (ResultFrom).
//
// The run ends before the test's own deadline (go test -timeout) leaves
// too little time for the drill's teardown, so that the target is always
// restored. The runner reads ${VARS} in drill files from the process
// environment when the drill runs (CreateDemoStack sets
// FIREDRILL_LEDGER_DSN).
func RunDrill(path string, opts ...RunOption) features.Func {
	return func(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
		t.Helper()
		rc := &runConfig{}
		for _, o := range opts {
			o(rc)
		}
		ds, err := drills.LoadFile(path)
		if err != nil {
			t.Fatalf("drilltest: %v", err)
		}
		client := rc.client
		if client == nil {
			kc, err := cfg.NewClient()
			if err != nil {
				t.Fatalf("drilltest: no cluster in the environment (set one up with CreateDemoStack, CreateLocalCluster or UseKubeconfig): %v", err)
			}
			if client, err = kubernetes.NewForConfig(kc.RESTConfig()); err != nil {
				t.Fatalf("drilltest: %v", err)
			}
		}
		for _, d := range ds {
			if len(ds) == 1 {
				ctx = runOne(ctx, t, rc, client, d)
				continue
			}
			t.Run(d.Metadata.Name, func(t *testing.T) { ctx = runOne(ctx, t, rc, client, d) })
		}
		return ctx
	}
}

type resultKey string

// ResultFrom returns the result of the drill named name that RunDrill ran
// earlier in the feature.
func ResultFrom(ctx context.Context, name string) (*drills.Result, bool) {
	r, ok := ctx.Value(resultKey(name)).(*drills.Result)
	return r, ok
}

func runOne(ctx context.Context, t *testing.T, rc *runConfig, client kubernetes.Interface, d *drills.Drill) context.Context {
	t.Helper()
	for _, edit := range rc.edits {
		edit(d)
	}
	rctx := ctx
	if dl, ok := t.Deadline(); ok {
		// Leave the teardown its budget (it runs on its own context)
		// and a margin to write the reports.
		d.Default()
		var cancel context.CancelFunc
		rctx, cancel = context.WithDeadline(ctx, dl.Add(-d.Spec.Timeouts.Teardown.Get(2*time.Minute)-30*time.Second))
		defer cancel()
	}
	start := time.Now()
	res, err := runner.New(client, rc.runnerOpts...).Run(rctx, d)
	if err != nil {
		t.Fatalf("drilltest: drill %s could not run: %v", d.Metadata.Name, err)
	}
	t.Logf("drill %s ran in %s", d.Metadata.Name, time.Since(start).Round(time.Millisecond))
	dir := rc.reportDir
	if dir == "" {
		dir = t.TempDir()
	}
	dir = filepath.Join(dir, res.Drill)
	if paths, err := reports.WriteFiles(ctx, dir, []drills.Result{*res}); err != nil {
		t.Errorf("drilltest: reports of %s: %v", res.Drill, err)
	} else {
		t.Logf("reports: %s", strings.Join(paths, ", "))
	}
	Report(t, res)
	return context.WithValue(ctx, resultKey(res.Drill), res)
}

// Report logs res's summary, runs a subtest "phases/<phase>" for each
// phase and "checks/<check>" for each check, which passes, skips or fails
// as that phase or check did (inconclusive and error fail too), and fails t
// when the drill's verdict is not passed. Use it to report a result from
// a runner you drive yourself.
func Report(t *testing.T, res *drills.Result) {
	t.Helper()
	t.Logf("drill %s: verdict %s%s; MTTD %s, MTTR %s", res.Drill, res.Verdict, reason(res.Reason), dur(res.MTTD), dur(res.MTTR))
	t.Run("phases", func(t *testing.T) {
		for _, p := range res.Phases {
			t.Run(p.Name, func(t *testing.T) {
				verdict(t, p.Verdict, fmt.Sprintf("phase %s (%s)", p.Name, p.Duration.Round(time.Millisecond)), p.Message)
			})
		}
	})
	t.Run("checks", func(t *testing.T) {
		for _, c := range res.Checks {
			t.Run(c.Name, func(t *testing.T) {
				msg := fmt.Sprintf("expected %s, observed %s", c.Expected, c.Observed)
				if c.Message != "" {
					msg += ": " + c.Message
				}
				verdict(t, c.Verdict, fmt.Sprintf("%s check %q", c.Kind, c.Name), msg)
			})
		}
	})
	if res.Verdict != drills.VerdictPassed {
		t.Errorf("drill %s: verdict %s%s", res.Drill, res.Verdict, reason(res.Reason))
	}
}

func verdict(t *testing.T, v drills.Verdict, what, msg string) {
	t.Helper()
	if msg != "" {
		msg = ": " + msg
	}
	switch v {
	case drills.VerdictPassed:
		t.Logf("%s passed%s", what, msg)
	case drills.VerdictSkipped:
		t.Skipf("%s skipped%s", what, msg)
	default:
		t.Errorf("%s %s%s", what, v, msg)
	}
}

func reason(r string) string {
	if r == "" {
		return ""
	}
	return " (" + r + ")"
}

func dur(d *drills.Duration) string {
	if d == nil {
		return "none"
	}
	return d.Duration.Round(time.Millisecond).String()
}
