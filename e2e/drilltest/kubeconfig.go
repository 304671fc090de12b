package drilltest

import (
	"context"
	"fmt"
	"os"

	"sigs.k8s.io/e2e-framework/pkg/env"
	"sigs.k8s.io/e2e-framework/pkg/envconf"
)

// UseKubeconfig returns an env.Func that points the environment at a
// cluster that is already up, through its kubeconfig file. It starts and
// takes nothing (DestroyLocal leaves that cluster alone), and checks that
// the file exists and names a cluster.
func UseKubeconfig(path string) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		if _, err := os.Stat(path); err != nil {
			return ctx, fmt.Errorf("drilltest: kubeconfig: %w", err)
		}
		cfg.WithKubeconfigFile(path)
		if _, err := cfg.NewClient(); err != nil {
			return ctx, fmt.Errorf("drilltest: kubeconfig %s: %w", path, err)
		}
		return ctx, nil
	}
}

// ExistingOr returns an env.Func that uses the cluster whose kubeconfig
// $FIREDRILL_E2E_KUBECONFIG names when it is set (UseKubeconfig), and runs
// create otherwise, so that one suite can run against a cluster that is
// already up (another suite's, a CI cluster) or bring up its own.
func ExistingOr(create env.Func) env.Func {
	return func(ctx context.Context, cfg *envconf.Config) (context.Context, error) {
		if path := os.Getenv(KubeconfigEnv); path != "" {
			return UseKubeconfig(path)(ctx, cfg)
		}
		return create(ctx, cfg)
	}
}
