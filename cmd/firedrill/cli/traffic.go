package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/firedrill/firedrill/drills"
	"github.com/firedrill/firedrill/runner/traffic"
)

// maxTrafficDuration bounds `firedrill traffic --duration`: a load run
// always stops by itself.
const maxTrafficDuration = time.Hour

// trafficFlags holds the flags of `firedrill traffic`.
type trafficFlags struct {
	targets      []string
	kube         *kubeFlags
	service      string
	port         string
	rate         float64
	duration     time.Duration
	timeout      time.Duration
	paths        []string
	maxErrorRate float64
	maxInFlight  int
	seed         uint64
	clientErrors bool
	verbose      bool
}

// newTrafficCmd returns `firedrill traffic`.
func newTrafficCmd() *cobra.Command {
	f := &trafficFlags{kube: newKubeFlags()}
	cmd := &cobra.Command{
		Use:   "traffic (--target HOST:PORT... | --service S [--namespace N] [--kubeconfig K --context C ...] [--port P]) --duration D",
		Short: "Drive open-loop constant-rate HTTP load and report error rate and latency",
		Long: `Send HTTP requests at a constant rate (open loop: on schedule whether or not
earlier requests returned, latency measured from the intended send time) to
static HOST:PORT targets or to the ready endpoints of a Kubernetes Service,
round-robin. With --service the cluster is chosen as kubectl chooses it
(--kubeconfig, --context, --server, --request-timeout, ...; else
$KUBECONFIG or ~/.kube/config) and --namespace defaults to the context's. Prints a line per second to stderr (scheduled rate, successes
per second, errors, p99) and a summary to stdout.

Errors are 5xx responses, timeouts, transport errors, requests dropped because
too many were in flight (overload) and requests with no ready endpoint; 4xx
responses are counted apart unless --count-4xx is set.

Exit codes: 0 done, 1 the error rate exceeded --max-error-rate, 2 bad usage
or the targets could not be reached at all (no cluster, no such kubeconfig).`,
		Example: `  firedrill traffic --target 127.0.0.1:8080 --rate 100 --duration 30s --path /healthz
  firedrill traffic --service payment --namespace shop --port http --duration 1m \
      --path GET:/balance --path 'POST:/pay?id={{.Seq}}' --max-error-rate 0.01`,
		Args:         cobra.NoArgs,
		SilenceUsage: true,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runTraffic(cmd, f)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&f.targets, "target", nil, "HOST:PORT to send to (repeatable)")
	// kubectl's cluster flags for --service; --namespace is the Service's.
	f.kube.register(fl, "namespace of --service (default: the kubeconfig context's)")
	fl.StringVar(&f.service, "service", "", "send to the ready endpoints of this Kubernetes Service")
	fl.StringVar(&f.port, "port", "", "endpoint port of --service, by name or number (default: the first)")
	fl.Float64Var(&f.rate, "rate", drills.DefaultTrafficRate, "requests per second")
	fl.DurationVar(&f.duration, "duration", 0, fmt.Sprintf("how long to send (required, at most %v)", maxTrafficDuration))
	fl.DurationVar(&f.timeout, "timeout", drills.DefaultRequestTimeout, "per-request timeout, from the intended send time")
	fl.StringArrayVar(&f.paths, "path", nil, "request as METHOD:/path or /path, may use {{.Seq}} and {{Rand N}} (repeatable, equal weights; default GET /)")
	fl.Float64Var(&f.maxErrorRate, "max-error-rate", 0, "exit 1 if the error rate (0..1) ends above this")
	fl.IntVar(&f.maxInFlight, "max-in-flight", 0, "bound on requests in flight (default rate × timeout + 16)")
	fl.Uint64Var(&f.seed, "seed", traffic.DefaultSeed, "seed for choosing paths and {{Rand N}}")
	fl.BoolVar(&f.clientErrors, "count-4xx", false, "count 4xx responses as errors")
	fl.BoolVarP(&f.verbose, "verbose", "v", false, "log the generator's progress to stderr")
	return cmd
}

// trafficSpec checks the flags and builds the traffic spec.
func trafficSpec(cmd *cobra.Command, f *trafficFlags) (drills.Traffic, error) {
	switch {
	case len(f.targets) > 0 && f.service != "":
		return drills.Traffic{}, errors.New("traffic: give either --target or --service, not both")
	case len(f.targets) == 0 && f.service == "":
		return drills.Traffic{}, errors.New("traffic: give --target HOST:PORT or --service NAME")
	case f.service == "" && (len(f.kube.changed()) > 0 || f.port != ""):
		set := f.kube.changed()
		if f.port != "" {
			set = append(set, "--port")
		}
		return drills.Traffic{}, fmt.Errorf("traffic: %s: kubectl flags and --port go with --service", strings.Join(set, ", "))
	case !cmd.Flags().Changed("duration"):
		return drills.Traffic{}, errors.New("traffic: --duration is required")
	case f.duration <= 0 || f.duration > maxTrafficDuration:
		return drills.Traffic{}, fmt.Errorf("traffic: --duration must be in (0, %v], got %v", maxTrafficDuration, f.duration)
	case f.timeout <= 0:
		return drills.Traffic{}, fmt.Errorf("traffic: --timeout must be positive, got %v", f.timeout)
	case !(f.rate > 0) || f.rate > traffic.MaxRate:
		return drills.Traffic{}, fmt.Errorf("traffic: --rate must be in (0, %d], got %v", traffic.MaxRate, f.rate)
	case f.maxErrorRate < 0 || f.maxErrorRate > 1:
		return drills.Traffic{}, fmt.Errorf("traffic: --max-error-rate must be in [0, 1], got %v", f.maxErrorRate)
	}
	spec := drills.Traffic{Rate: f.rate, Duration: drills.D(f.duration), Timeout: drills.D(f.timeout)}
	paths := f.paths
	if len(paths) == 0 {
		paths = []string{"/"}
	}
	for _, p := range paths {
		r, err := parsePath(p)
		if err != nil {
			return drills.Traffic{}, err
		}
		spec.Requests = append(spec.Requests, r)
	}
	return spec, nil
}

// parsePath reads METHOD:/path or /path.
func parsePath(p string) (drills.RequestTemplate, error) {
	method, path := "GET", p
	if !strings.HasPrefix(p, "/") {
		m, rest, ok := strings.Cut(p, ":")
		if !ok || m == "" || !strings.HasPrefix(rest, "/") {
			return drills.RequestTemplate{}, fmt.Errorf("traffic: --path %q: want METHOD:/path or /path", p)
		}
		method, path = strings.ToUpper(m), rest
	}
	return drills.RequestTemplate{Method: method, Path: path, Weight: 1}, nil
}

// trafficTargets builds static targets or watches the Service's endpoints.
func trafficTargets(ctx context.Context, f *trafficFlags, log *slog.Logger) (traffic.Targets, func(), error) {
	if len(f.targets) > 0 {
		t, err := traffic.NewStaticTargets(f.targets...)
		return t, func() {}, err
	}
	ns, err := f.kube.namespace()
	if err != nil {
		return nil, nil, fmt.Errorf("traffic: %w", err)
	}
	rc, err := f.kube.restConfig()
	if err != nil {
		return nil, nil, fmt.Errorf("traffic: %w", err)
	}
	client, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return nil, nil, fmt.Errorf("traffic: kubernetes client: %w", err)
	}
	t, err := traffic.NewServiceTargets(ctx, client, ns, f.service, traffic.WithPort(f.port), traffic.WithServiceLogger(log))
	if err != nil {
		return nil, nil, err
	}
	return t, t.Close, nil
}

func runTraffic(cmd *cobra.Command, f *trafficFlags) error {
	spec, err := trafficSpec(cmd, f)
	if err != nil {
		return err
	}
	stderr := cmd.ErrOrStderr()
	log := slog.New(slog.DiscardHandler)
	if f.verbose {
		log = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	ctx := cmd.Context()
	targets, closeTargets, err := trafficTargets(ctx, f, log)
	if err != nil {
		return err
	}
	defer closeTargets()
	g, err := traffic.New(targets, spec,
		traffic.WithLogger(log), traffic.WithSeed(f.seed),
		traffic.WithMaxInFlight(f.maxInFlight), traffic.WithClientErrorsAsErrors(f.clientErrors))
	if err != nil {
		return err
	}

	done := make(chan error, 1)
	go func() { done <- g.Run(ctx) }()
	printed := 0
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for running := true; running; {
		select {
		case err = <-done:
			running = false
		case <-tick.C:
		}
		printed = printSeconds(stderr, g.Stats(), printed)
	}
	if err != nil {
		return err
	}
	total := g.Stats().Total()
	printTrafficSummary(cmd.OutOrStdout(), total, f.clientErrors)
	if cmd.Flags().Changed("max-error-rate") && total.ErrorRate > f.maxErrorRate {
		return failed(fmt.Errorf("traffic: error rate %.2f%% exceeds --max-error-rate %.2f%%", 100*total.ErrorRate, 100*f.maxErrorRate))
	}
	return nil
}

// printSeconds prints one live line for each second settled since from and
// returns the new count.
func printSeconds(w io.Writer, st *traffic.Stats, from int) int {
	n := st.Settled()
	for i := from; i < n; i++ {
		s := st.Second(i)
		fmt.Fprintf(w, "traffic %4ds  sent %7.1f/s  ok %7.1f/s  errors %5d (%6.2f%%)  p99 %v\n",
			i+1, s.Rate, s.Throughput, s.Errors, 100*s.ErrorRate, s.P99.Round(time.Microsecond))
	}
	return max(n, from)
}

// printTrafficSummary prints the whole run.
func printTrafficSummary(w io.Writer, t traffic.Snapshot, clientErrors bool) {
	fmt.Fprintf(w, "requests   %d in %v (%.1f/s)\n", t.Requests, t.Duration.Round(time.Millisecond), t.Rate)
	fmt.Fprintf(w, "successes  %d (%.1f/s)\n", t.Successes, t.Throughput)
	var kinds []string
	for _, k := range traffic.Kinds() {
		if n := t.ByKind[k]; n > 0 && (k != traffic.KindClient || clientErrors) {
			kinds = append(kinds, fmt.Sprintf("%s %d", k, n))
		}
	}
	byKind := ""
	if len(kinds) > 0 {
		byKind = ": " + strings.Join(kinds, ", ")
	}
	fmt.Fprintf(w, "errors     %d (%.2f%%)%s\n", t.Errors, 100*t.ErrorRate, byKind)
	if !clientErrors {
		fmt.Fprintf(w, "4xx        %d (not counted as errors)\n", t.ClientErrors)
	}
	fmt.Fprintf(w, "latency    p50 %v  p99 %v  max %v\n",
		t.P50.Round(time.Microsecond), t.P99.Round(time.Microsecond), t.Max.Round(time.Microsecond))
}
