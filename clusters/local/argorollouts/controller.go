package argorollouts

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/firedrill/firedrill/clusters/internal/proc"
)

// Version is the pinned Argo Rollouts release (hack/versions.env,
// ARGO_ROLLOUTS_VERSION); a unit test keeps the two in sync.
const Version = "v1.10.2"

// Defaults.
const (
	// DefaultNamespace is the one namespace the controller watches.
	DefaultNamespace = "firedrill-demo"
	// DefaultReadyTimeout bounds the wait for a healthy, synced controller.
	DefaultReadyTimeout = 2 * time.Minute
	// readyLine is what the controller logs once its informer caches have
	// synced and its workers run.
	readyLine = "Started controller"
)

// DefaultDir is where hack/build-argo-rollouts.sh puts the pinned build:
// $FIREDRILL_ARGO_ROLLOUTS_DIR if set, else
// $FIREDRILL_CACHE/tools/argo-rollouts-<Version> (cache default
// /var/cache/firedrill). It holds bin/rollouts-controller and crds/*.yaml.
func DefaultDir() string {
	if d := os.Getenv("FIREDRILL_ARGO_ROLLOUTS_DIR"); d != "" {
		return d
	}
	cache := os.Getenv("FIREDRILL_CACHE")
	if cache == "" {
		cache = "/var/cache/firedrill"
	}
	return filepath.Join(cache, "tools", "argo-rollouts-"+Version)
}

// Binary returns the controller binary's path in a build folder.
func Binary(dir string) string { return filepath.Join(dir, "bin", "rollouts-controller") }

// Option configures Start.
type Option func(*Controller)

// WithToolDir sets the build folder (default DefaultDir()).
func WithToolDir(dir string) Option { return func(c *Controller) { c.toolDir = dir } }

// WithWorkDir sets the folder for the controller's log and PID file
// (default: a new temporary folder, kept after Stop for its log).
func WithWorkDir(dir string) Option { return func(c *Controller) { c.workDir = dir } }

// WithNamespace sets the one namespace the controller watches (default
// DefaultNamespace).
func WithNamespace(ns string) Option { return func(c *Controller) { c.namespace = ns } }

// WithPorts sets the metrics and healthz ports (default: free ports chosen
// at Start).
func WithPorts(metrics, healthz int) Option {
	return func(c *Controller) { c.metricsPort, c.healthzPort = metrics, healthz }
}

// WithReadyTimeout bounds the wait for readiness (default
// DefaultReadyTimeout).
func WithReadyTimeout(d time.Duration) Option { return func(c *Controller) { c.readyTimeout = d } }

// WithLogger sets the logger for progress messages (default: none).
func WithLogger(l *slog.Logger) Option { return func(c *Controller) { c.log = l } }

// Controller is one running Argo Rollouts controller owned by firedrill.
type Controller struct {
	kubeconfig   string
	toolDir      string
	workDir      string
	namespace    string
	metricsPort  int
	healthzPort  int
	readyTimeout time.Duration
	log          *slog.Logger
	ref          proc.Ref
}

// Start installs the release's CRDs into the cluster behind kubeconfig,
// starts the controller out-of-cluster and waits until it is healthy and
// has synced its caches. On failure it stops what it started and returns
// the last lines of the controller's log.
func Start(ctx context.Context, kubeconfig string, opts ...Option) (*Controller, error) {
	c := &Controller{
		kubeconfig:   kubeconfig,
		toolDir:      DefaultDir(),
		namespace:    DefaultNamespace,
		readyTimeout: DefaultReadyTimeout,
		log:          slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(c)
	}
	bin := Binary(c.toolDir)
	if _, err := os.Stat(bin); err != nil {
		return nil, fmt.Errorf("argorollouts: controller not built (run hack/build-argo-rollouts.sh): %w", err)
	}
	if c.workDir == "" {
		d, err := os.MkdirTemp("", "firedrill-argo-rollouts-")
		if err != nil {
			return nil, fmt.Errorf("argorollouts: %w", err)
		}
		c.workDir = d
	} else if err := os.MkdirAll(c.workDir, 0o755); err != nil {
		return nil, fmt.Errorf("argorollouts: %w", err)
	}
	// A controller left by an earlier run in the same folder goes first.
	if err := proc.StopPIDFile(c.pidPath(), 10*time.Second); err != nil {
		return nil, fmt.Errorf("argorollouts: stop stale controller: %w", err)
	}
	if err := c.choosePorts(); err != nil {
		return nil, err
	}

	c.log.Info("installing the Argo Rollouts CRDs", "dir", filepath.Join(c.toolDir, "crds"))
	if err := InstallCRDs(ctx, kubeconfig, c.toolDir); err != nil {
		return nil, err
	}

	cmd := exec.Command(bin, c.args()...)
	// defaults.Namespace() falls back to "argo-rollouts" out-of-cluster:
	// point the controller's own config lookups at the watched namespace.
	cmd.Env = append(os.Environ(), "POD_NAMESPACE="+c.namespace)
	// Fresh log per start: readiness is read from it.
	_ = os.Remove(c.LogPath())
	r, err := proc.Start(cmd, c.LogPath(), c.pidPath())
	if err != nil {
		return nil, fmt.Errorf("argorollouts: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	c.ref = r
	c.log.Info("started the Argo Rollouts controller", "pid", r.PID, "version", Version,
		"namespace", c.namespace, "healthz", c.HealthzURL(), "log", c.LogPath())

	rctx, cancel := context.WithTimeout(ctx, c.readyTimeout)
	defer cancel()
	if err := c.waitReady(rctx); err != nil {
		_ = c.Stop(context.Background())
		return nil, fmt.Errorf("argorollouts: controller not ready: %w\nlast log lines:\n%s", err, proc.TailFile(c.LogPath(), 20))
	}
	c.log.Info("Argo Rollouts controller ready", "pid", r.PID)
	return c, nil
}

// args are the controller's flags: only what running out-of-cluster against
// one namespace needs.
func (c *Controller) args() []string {
	return []string{
		"--kubeconfig=" + c.kubeconfig,
		"--namespaced",
		"--namespace=" + c.namespace,
		// One instance; leader election would need a lease namespace.
		"--leader-elect=false",
		"--metricsPort=" + strconv.Itoa(c.metricsPort),
		"--healthzPort=" + strconv.Itoa(c.healthzPort),
		"--loglevel=info",
		"--logformat=text",
	}
}

func (c *Controller) choosePorts() error {
	for _, p := range []*int{&c.metricsPort, &c.healthzPort} {
		if *p != 0 {
			continue
		}
		// The controller listens on 0.0.0.0: the port must be free there.
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return fmt.Errorf("argorollouts: choose a port: %w", err)
		}
		*p = l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
	}
	if c.metricsPort == c.healthzPort {
		return fmt.Errorf("argorollouts: metrics and healthz ports are both %d", c.metricsPort)
	}
	return nil
}

func (c *Controller) pidPath() string { return filepath.Join(c.workDir, "rollouts-controller.pid") }

// LogPath is the controller's log file.
func (c *Controller) LogPath() string { return filepath.Join(c.workDir, "rollouts-controller.log") }

// PID is the controller's process ID, or 0 once it has stopped.
func (c *Controller) PID() int {
	if !c.ref.Alive() {
		return 0
	}
	return c.ref.PID
}

// Ref identifies the controller's process (PID and start time).
func (c *Controller) Ref() proc.Ref { return c.ref }

// HealthzURL is the controller's health endpoint, reached over loopback.
func (c *Controller) HealthzURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/healthz", c.healthzPort)
}

// MetricsURL is the controller's Prometheus metrics endpoint, reached over
// loopback.
func (c *Controller) MetricsURL() string {
	return fmt.Sprintf("http://127.0.0.1:%d/metrics", c.metricsPort)
}

// Stop stops the controller by PID (SIGTERM, then SIGKILL to its process
// group) and returns once it is gone. The CRDs stay installed.
func (c *Controller) Stop(_ context.Context) error {
	if err := proc.StopPIDFile(c.pidPath(), 15*time.Second); err != nil {
		return fmt.Errorf("argorollouts: %w", err)
	}
	if c.ref.Alive() {
		return fmt.Errorf("argorollouts: controller pid %d still running", c.ref.PID)
	}
	return nil
}

func (c *Controller) waitReady(ctx context.Context) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	var last error
	for {
		if !c.ref.Alive() {
			return errors.New("the controller exited")
		}
		if last = c.healthy(ctx); last == nil {
			if b, err := os.ReadFile(c.LogPath()); err == nil && strings.Contains(string(b), readyLine) {
				return nil
			}
			last = fmt.Errorf("healthy, but no %q in the log yet", readyLine)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %v)", ctx.Err(), last)
		case <-t.C:
		}
	}
}

func (c *Controller) healthy(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.HealthzURL(), nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthz: %s", resp.Status)
	}
	return nil
}
