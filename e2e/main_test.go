package e2e_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
	"sigs.k8s.io/e2e-framework/pkg/types"

	"github.com/firedrill/firedrill/clusters/local/stack"
	"github.com/firedrill/firedrill/e2e/drilltest"
	"github.com/firedrill/firedrill/internal/testenv"
)

var (
	// testEnv is the suite's environment: the demo stack on the local
	// cluster, or the cluster $FIREDRILL_E2E_KUBECONFIG names.
	testEnv types.Environment
	// unavailable says why the suite cannot run here ("" if it can).
	unavailable string
	// finishErr is DestroyLocal's error: e2e-framework only logs Finish
	// errors, so TestMain fails the run on it itself.
	finishErr error
)

func TestMain(m *testing.M) {
	flag.Parse() // testing.Short and testing.Verbose, before Setup runs
	testEnv = env.NewWithConfig(envconf.New())
	unavailable = why()
	if unavailable == "" {
		log := slog.New(slog.DiscardHandler)
		if testing.Verbose() {
			log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
		}
		testEnv.Setup(drilltest.ExistingOr(drilltest.CreateDemoStack(
			drilltest.WithSourceDir(".."), drilltest.WithLogger(log), drilltest.WithLockTimeout(lockWait()))))
		testEnv.Finish(func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
			ctx, finishErr = drilltest.DestroyLocal()(ctx, cfg)
			return ctx, finishErr
		})
	}
	// Ctrl-C or a cancelled job still takes the local cluster down.
	drilltest.DestroyOnSignal()
	start := time.Now()
	code := testEnv.Run(m)
	if finishErr != nil {
		fmt.Fprintf(os.Stderr, "FAIL: taking the local cluster down: %v\n", finishErr)
		code = 1
	}
	if unavailable == "" && os.Getenv(drilltest.KubeconfigEnv) == "" {
		fmt.Fprintf(os.Stderr, "e2e suite: lock wait, setup, tests and teardown took %s\n", time.Since(start).Round(time.Second))
	}
	os.Exit(code)
}

// why returns why the suite cannot run here, or "".
func why() string {
	if testing.Short() && !testenv.Required() {
		return "skipping integration test in -short mode"
	}
	if os.Getenv(drilltest.KubeconfigEnv) != "" {
		return ""
	}
	return drilltest.DemoStackUnavailable()
}

// suiteBudget is what the suite needs once it holds the machine lock:
// the stack up and down and two bad-image drills, with room to spare.
const suiteBudget = 8 * time.Minute

// lockWait is how long Setup may wait for the machine's local-cluster lock
// while other test binaries (make test runs them in parallel) hold it:
// whatever -test.timeout leaves after the suite's own budget.
func lockWait() time.Duration {
	f := flag.Lookup("test.timeout")
	if f == nil {
		return 30 * time.Minute
	}
	d, err := time.ParseDuration(f.Value.String())
	if err != nil || d <= 0 {
		return 30 * time.Minute
	}
	return max(d-suiteBudget, time.Minute)
}

// requireEnv skips t where the suite cannot run, or fails it under make
// test as root (FIREDRILL_REQUIRE_INTEGRATION=1).
func requireEnv(t *testing.T) {
	t.Helper()
	if unavailable != "" {
		testenv.Missing(t, unavailable)
	}
}

// requireRestored checks that the demo target is back to payment:v1 and
// available, as every drill's teardown must leave it.
func requireRestored(ctx context.Context, t *testing.T, cfg *envconf.Config) context.Context {
	t.Helper()
	kc, err := cfg.NewClient()
	require.NoError(t, err)
	cs, err := kubernetes.NewForConfig(kc.RESTConfig())
	require.NoError(t, err)
	require.NoError(t, stack.WaitAvailable(ctx, cs, stack.Namespace, stack.Deployment, 2*time.Minute))
	dep, err := cs.AppsV1().Deployments(stack.Namespace).Get(ctx, stack.Deployment, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "payment:v1", dep.Spec.Template.Spec.Containers[0].Image)
	return ctx
}
