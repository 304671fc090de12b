package cli

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/firedrill/firedrill/clusters/local"
	"github.com/firedrill/firedrill/clusters/local/prometheus"
	"github.com/firedrill/firedrill/clusters/local/stack"
)

// maxScrapeInterval bounds demo up --scrape-interval: Prometheus's own
// default is 1m, and slower scrapes make drills last for ever.
const maxScrapeInterval = 2 * time.Minute

type demoFlags struct {
	clusterFlags
	timeout    time.Duration
	keep       bool
	promListen string
	sourceDir  string
	chaosMesh  bool
	scrape     time.Duration
}

func (f *demoFlags) register(cmd *cobra.Command) {
	f.clusterFlags.register(cmd)
	cmd.Flags().DurationVar(&f.timeout, "timeout", 10*time.Minute, "overall timeout")
	cmd.Flags().StringVar(&f.promListen, "prometheus-listen", "127.0.0.1:9090", "loopback address for Prometheus")
	cmd.Flags().StringVar(&f.sourceDir, "source-dir", ".", "firedrill source tree (the payment image is built from ./cmd/payment)")
}

func (f *demoFlags) stack(cmd *cobra.Command) *stack.Stack {
	log := clusterProgressLogger(cmd.ErrOrStderr(), f.verbose)
	opts := append(f.options(cmd.ErrOrStderr()), local.WithModuleDir(f.sourceDir))
	return stack.New(
		stack.WithCluster(local.New(opts...)),
		stack.WithSourceDir(f.sourceDir),
		stack.WithLogger(log),
		stack.WithPrometheusListen(f.promListen),
		stack.WithScrapeInterval(f.scrape),
	)
}

// newDemoCmd returns `firedrill demo` with up and down.
func newDemoCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Bring the demo stack up or down on the local cluster",
		Long: `The demo stack is what the shipped drills run against: the local cluster,
a private PostgreSQL on the host (port 55432, reachable from pods at
10.244.0.1), the payment service (image tags v1, v2-buggy, v2-slow, v2-crash,
v2-corrupt built locally, v1 deployed with 3 replicas in namespace
firedrill-demo), and a real Prometheus on 127.0.0.1:9090 scraping the pods
every 500 ms (demo up --scrape-interval 15s: as a real cluster does) with
the seed's alert rules.

Exit codes: 0 ok, 2 could not bring it up (what was started is removed
unless --keep).`,
	}
	cmd.AddCommand(newDemoUpCmd(), newDemoDownCmd(), newDemoCanaryCmd())
	return cmd
}

func newDemoUpCmd() *cobra.Command {
	f := &demoFlags{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Bring the demo stack up (idempotent)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if f.scrape <= 0 || f.scrape > maxScrapeInterval {
				return fmt.Errorf("demo up: --scrape-interval must be in (0, %s], got %s", maxScrapeInterval, f.scrape)
			}
			s := f.stack(cmd)
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			err := s.Up(ctx)
			if err == nil && f.chaosMesh {
				err = startChaosMesh(ctx, s.Cluster(), cmd.ErrOrStderr(), f.verbose)
			}
			if err != nil {
				if !f.keep {
					fmt.Fprintln(cmd.ErrOrStderr(), "demo up failed; removing what was started (use --keep to keep it)")
					cleanup, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), 3*time.Minute)
					defer cancel()
					err = errors.Join(err, stopChaosMesh(cleanup, s.Cluster()), s.Down(cleanup))
				}
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "\nThe demo stack is up.\n")
			fmt.Fprintf(out, "  export KUBECONFIG=%s\n", s.Cluster().Kubeconfig())
			fmt.Fprintf(out, "  kubectl -n %s get pods -o wide\n", stack.Namespace)
			fmt.Fprintf(out, "  Prometheus: http://%s\n", f.promListen)
			fmt.Fprintf(out, "  firedrill demo down   # removes it all\n")
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().BoolVar(&f.keep, "keep", false, "on failure, keep what was started for debugging")
	cmd.Flags().BoolVar(&f.chaosMesh, "chaos-mesh", false, "also run the Chaos Mesh controller-manager with its CRDs")
	cmd.Flags().DurationVar(&f.scrape, "scrape-interval", prometheus.DefaultScrapeInterval, "how often Prometheus scrapes the pods (and evaluates rules); a running Prometheus with another interval is restarted")
	return cmd
}

func newDemoDownCmd() *cobra.Command {
	f := &demoFlags{}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Stop Prometheus and PostgreSQL and delete the local cluster",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(cmd.Context()), f.timeout)
			defer cancel()
			s := f.stack(cmd)
			if err := stopChaosMesh(ctx, s.Cluster()); err != nil {
				return err
			}
			if err := s.Down(ctx); err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), "The demo stack is down.")
			return nil
		},
	}
	f.register(cmd)
	return cmd
}

// newDemoCanaryCmd returns `firedrill demo canary up|down`: the canary
// track the bad-config drill pushes to.
func newDemoCanaryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "canary",
		Short: "Add or remove the canary track (payment-canary) on the demo stack",
		Long: `The canary track is one more payment pod (Deployment payment-canary, label
track=canary, its own ConfigMap payment-canary-config) behind the same
Service, taking about a quarter of the traffic. The bad-config drill pushes a
bad value to the canary's ConfigMap and expects the engine to switch the
Service back to track=stable. The other drills measure the stable track
alone, so remove the canary after the drills that need it.

Exit codes: 0 ok, 2 could not apply or remove it.`,
	}
	for _, up := range []bool{true, false} {
		f := &demoFlags{}
		use, short := "up", "Install the canary track and wait until it is available (idempotent)"
		if !up {
			use, short = "down", "Remove the canary track and wait until its pods are gone"
		}
		c := &cobra.Command{
			Use:   use,
			Short: short,
			Args:  cobra.NoArgs,
			RunE: func(cmd *cobra.Command, _ []string) error {
				ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
				defer cancel()
				cfg, err := f.stack(cmd).Cluster().RESTConfig()
				if err != nil {
					return fmt.Errorf("demo canary: %w (run `firedrill demo up` first)", err)
				}
				if up {
					if err := stack.InstallCanary(ctx, cfg, f.timeout); err != nil {
						return err
					}
					fmt.Fprintf(cmd.OutOrStdout(), "The canary track (%s/%s) is up.\n", stack.Namespace, stack.Canary)
					return nil
				}
				if err := stack.RemoveCanary(ctx, cfg, f.timeout); err != nil {
					return err
				}
				fmt.Fprintln(cmd.OutOrStdout(), "The canary track is gone.")
				return nil
			},
		}
		f.register(c)
		cmd.AddCommand(c)
	}
	return cmd
}
