package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/firedrill/firedrill/clusters"
	"github.com/firedrill/firedrill/clusters/kind"
	"github.com/firedrill/firedrill/clusters/local"
	localchaosmesh "github.com/firedrill/firedrill/clusters/local/chaosmesh"
)

// clusterFlags are shared by every cluster subcommand.
type clusterFlags struct {
	name    string
	home    string
	verbose bool
}

func (f *clusterFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.name, "name", local.DefaultName, "cluster name (work folder <home>/clusters/<name>)")
	cmd.Flags().StringVar(&f.home, "home", "", "firedrill home folder (default $FIREDRILL_HOME or "+local.DefaultHome+")")
	cmd.Flags().BoolVarP(&f.verbose, "verbose", "v", false, "print debug progress")
}

func (f *clusterFlags) options(w io.Writer) []local.Option {
	opts := []local.Option{local.WithName(f.name), local.WithLogger(clusterProgressLogger(w, f.verbose))}
	if f.home != "" {
		opts = append(opts, local.WithHome(f.home))
	}
	return opts
}

type clusterUpFlags struct {
	clusterFlags
	timeout     time.Duration
	kubeBinDir  string
	runc        string
	moduleDir   string
	chaosMesh   bool
	serviceCIDR string
}

type clusterDownFlags struct {
	clusterFlags
	timeout time.Duration
}

type clusterStatusFlags struct {
	clusterFlags
	timeout time.Duration
}

type clusterLoadImageFlags struct {
	clusterFlags
	timeout  time.Duration
	provider string
}

// newClusterCmd returns `firedrill cluster` with up, down, status and
// load-image.
func newClusterCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cluster",
		Short: "Manage the embedded local Kubernetes cluster",
		Long: `Manage firedrill's embedded local cluster: a real single-node Kubernetes
(etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubelet,
kube-proxy, containerd) started from binaries on this machine. Needs root, the binaries
from hack/tools.sh and the Debian packages from hack/host-deps.sh.

Exit codes: 0 ok, 1 a check failed (status: unhealthy or missing), 2 the
command could not run.`,
	}
	cmd.AddCommand(newClusterUpCmd(), newClusterDownCmd(), newClusterStatusCmd(), newClusterLoadImageCmd())
	return cmd
}

func newClusterUpCmd() *cobra.Command {
	f := &clusterUpFlags{}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Create the local cluster, or reuse it if it is running",
		Long: `Create the local cluster and wait until its node is Ready. A healthy running
cluster is reused; a stale one (after a crash) is cleaned up first. Ctrl-C
tears down whatever was started.`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// Execute cancels cmd.Context() on SIGINT/SIGTERM; Create then
			// tears down whatever it started.
			ctx := cmd.Context()
			opts := append(f.options(cmd.ErrOrStderr()), local.WithTimeout(f.timeout))
			if f.kubeBinDir != "" {
				opts = append(opts, local.WithKubernetesBinDir(f.kubeBinDir))
			}
			if f.runc != "" {
				opts = append(opts, local.WithRuncBinary(f.runc))
			}
			if f.moduleDir != "" {
				opts = append(opts, local.WithModuleDir(f.moduleDir))
			}
			if f.serviceCIDR != "" {
				p, err := netip.ParsePrefix(f.serviceCIDR)
				if err != nil {
					return fmt.Errorf("cluster up: --service-cidr %q: %w", f.serviceCIDR, err)
				}
				opts = append(opts, local.WithServiceCIDR(p))
			}
			cl := local.New(opts...)
			if err := cl.Create(ctx); err != nil {
				return err
			}
			if f.chaosMesh {
				if err := startChaosMesh(ctx, cl, cmd.ErrOrStderr(), f.verbose); err != nil {
					return err
				}
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "\nCluster %q is up.\n\n", cl.ClusterName())
			fmt.Fprintf(out, "  export KUBECONFIG=%s\n", cl.Kubeconfig())
			fmt.Fprintf(out, "  kubectl get nodes -o wide\n\n")
			fmt.Fprintf(out, "Load images with `firedrill cluster load-image IMAGE.tar` and run pods with\n")
			fmt.Fprintf(out, "imagePullPolicy: Never. Pods are reachable from this host at their IPs;\n")
			fmt.Fprintf(out, "there is no kube-proxy and no cluster DNS. Logs: %s/logs\n", cl.WorkDir())
			fmt.Fprintf(out, "Tear down with `firedrill cluster down --name %s`.\n", cl.ClusterName())
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&f.timeout, "timeout", local.DefaultTimeout, "give up (and tear down) after this long")
	cmd.Flags().StringVar(&f.kubeBinDir, "kubernetes-bin", "", "folder with kube-apiserver, kubelet, etcd... (default: hack/tools.sh cache)")
	cmd.Flags().StringVar(&f.runc, "runc", "", "runc binary for containerd (default: hack/tools.sh cache)")
	cmd.Flags().StringVar(&f.moduleDir, "module-dir", "", "firedrill source tree, to build the pause image (default: found from the current folder)")
	cmd.Flags().StringVar(&f.serviceCIDR, "service-cidr", local.DefaultServiceCIDR, "Services' ClusterIP range, routed onto the cluster's bridge on the host; pick another one if the host already routes it")
	cmd.Flags().BoolVar(&f.chaosMesh, "chaos-mesh", false, "also install the Chaos Mesh CRDs and run its controller-manager (from hack/build-chaos-mesh.sh)")
	return cmd
}

func newClusterDownCmd() *cobra.Command {
	f := &clusterDownFlags{}
	cmd := &cobra.Command{
		Use:          "down",
		Short:        "Delete the local cluster and every trace of it",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			cl := local.New(f.options(cmd.ErrOrStderr())...)
			if err := stopChaosMesh(ctx, cl); err != nil {
				return err
			}
			if err := cl.Delete(ctx); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "Cluster %q deleted.\n", cl.ClusterName())
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&f.timeout, "timeout", 3*time.Minute, "give up after this long")
	return cmd
}

func newClusterStatusCmd() *cobra.Command {
	f := &clusterStatusFlags{}
	cmd := &cobra.Command{
		Use:          "status",
		Short:        "Show the health of each component; exit 1 if any is unhealthy",
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			cl := local.New(f.options(cmd.ErrOrStderr())...)
			st, err := cl.Status(ctx)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if !st.Exists {
				fmt.Fprintf(out, "Cluster %q does not exist (no %s).\n", cl.ClusterName(), cl.WorkDir())
				return failed(fmt.Errorf("cluster %q does not exist", cl.ClusterName()))
			}
			writeStatusTable(out, st)
			if !st.Healthy() {
				return failed(fmt.Errorf("cluster %q is unhealthy", cl.ClusterName()))
			}
			fmt.Fprintf(out, "\nexport KUBECONFIG=%s\n", cl.Kubeconfig())
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&f.timeout, "timeout", 30*time.Second, "give up after this long")
	return cmd
}

func writeStatusTable(w io.Writer, st local.Status) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "COMPONENT\tPID\tSTATUS\tDETAIL")
	for _, c := range st.Components {
		pid := "-"
		if c.PID > 0 {
			pid = fmt.Sprint(c.PID)
		}
		health := "healthy"
		if !c.Healthy {
			health = "unhealthy"
		}
		detail, _, _ := strings.Cut(c.Detail, "\n")
		if len(detail) > 100 {
			detail = detail[:97] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Name, pid, health, detail)
	}
	_ = tw.Flush()
}

func newClusterLoadImageCmd() *cobra.Command {
	f := &clusterLoadImageFlags{}
	cmd := &cobra.Command{
		Use:   "load-image TARBALL...",
		Short: "Import image tarballs (docker-archive or OCI) into the cluster's containerd",
		Long: `Import image tarballs (for example from firedrill image build) into the
containerd of the embedded local cluster, or, with --provider kind, into every
node of the kind cluster named by --name (as kind load image-archive does).`,
		Example: `  firedrill cluster load-image _out/payment.tar
  firedrill cluster load-image --provider kind --name firedrill _out/payment.tar`,
		Args:         cobra.MinimumNArgs(1),
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, cancel := context.WithTimeout(cmd.Context(), f.timeout)
			defer cancel()
			var cl clusters.Provider
			switch f.provider {
			case local.ProviderName:
				cl = local.New(f.options(cmd.ErrOrStderr())...)
			case kind.ProviderName:
				cl = kind.New(kind.WithName(f.name))
			default:
				return fmt.Errorf("unknown provider %q: want %s or %s", f.provider, local.ProviderName, kind.ProviderName)
			}
			for _, tarball := range args {
				if err := cl.LoadImage(ctx, tarball); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "loaded %s\n", tarball)
			}
			return nil
		},
	}
	f.register(cmd)
	cmd.Flags().DurationVar(&f.timeout, "timeout", 5*time.Minute, "give up after this long")
	cmd.Flags().StringVar(&f.provider, "provider", local.ProviderName, "cluster provider: local or kind")
	return cmd
}

// progressLogger prints one line per progress event: "[  1.2s] started
// component=etcd pid=123". Debug events only with verbose.
func clusterProgressLogger(w io.Writer, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	return slog.New(&clusterProgressHandler{w: w, level: level, start: time.Now(), mu: &sync.Mutex{}})
}

type clusterProgressHandler struct {
	w     io.Writer
	level slog.Level
	start time.Time
	attrs []slog.Attr
	mu    *sync.Mutex
}

func (h *clusterProgressHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *clusterProgressHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	fmt.Fprintf(&b, "[%6.1fs] ", time.Since(h.start).Seconds())
	if r.Level >= slog.LevelWarn {
		b.WriteString(r.Level.String() + " ")
	}
	b.WriteString(r.Message)
	write := func(a slog.Attr) bool {
		fmt.Fprintf(&b, " %s=%v", a.Key, a.Value.Any())
		return true
	}
	for _, a := range h.attrs {
		write(a)
	}
	r.Attrs(write)
	b.WriteByte('\n')
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *clusterProgressHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	n := *h
	n.attrs = append(append([]slog.Attr{}, h.attrs...), attrs...)
	return &n
}

func (h *clusterProgressHandler) WithGroup(string) slog.Handler { return h }

// startChaosMesh runs the Chaos Mesh controller-manager against cl.
func startChaosMesh(ctx context.Context, cl *local.Cluster, w io.Writer, verbose bool) error {
	ctrl := localchaosmesh.New(localchaosmesh.DirIn(cl.WorkDir()), cl.Kubeconfig(), localchaosmesh.WithLogger(clusterProgressLogger(w, verbose)))
	if err := ctrl.Start(ctx); err != nil {
		return err
	}
	fmt.Fprintf(w, "Chaos Mesh controller-manager runs (pid %d, log %s).\n", ctrl.PID(), ctrl.LogPath())
	return nil
}

// stopChaosMesh stops cl's Chaos Mesh controller-manager if one runs.
func stopChaosMesh(ctx context.Context, cl *local.Cluster) error {
	return localchaosmesh.New(localchaosmesh.DirIn(cl.WorkDir()), cl.Kubeconfig()).Stop(ctx)
}
