package chaosmesh

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/firedrill/firedrill/clusters/images"
	"github.com/firedrill/firedrill/clusters/internal/proc"
	cm "github.com/firedrill/firedrill/scenarios/chaosmesh"
)

// Version is the pinned Chaos Mesh module version (CHAOS_MESH_VERSION in
// hack/versions.env).
const Version = "v0.9.1-0.20260902003049-47411975a8cb"

// Defaults.
const (
	// DefaultMetricsPort and DefaultWebhookPort are the controller's
	// loopback ports (Chaos Mesh's own defaults).
	DefaultMetricsPort  = 10080
	DefaultWebhookPort  = 9443
	DefaultReadyTimeout = 2 * time.Minute
	binary              = "chaos-controller-manager"
)

// DefaultBinDir is where hack/build-chaos-mesh.sh puts the controller:
// $FIREDRILL_CHAOS_MESH_BIN, else the tool cache.
func DefaultBinDir() string {
	if d := os.Getenv("FIREDRILL_CHAOS_MESH_BIN"); d != "" {
		return d
	}
	cache := os.Getenv("FIREDRILL_CACHE")
	if cache == "" {
		cache = "/var/cache/firedrill"
	}
	return filepath.Join(cache, "tools", "chaos-mesh-"+Version, "bin")
}

// Option configures a Controller.
type Option func(*Controller)

// WithBinDir sets the folder holding chaos-controller-manager (default
// DefaultBinDir).
func WithBinDir(dir string) Option { return func(c *Controller) { c.binDir = dir } }

// WithPorts sets the loopback metrics and webhook ports.
func WithPorts(metrics, webhook int) Option {
	return func(c *Controller) { c.metricsPort, c.webhookPort = metrics, webhook }
}

// WithPauseImage sets the image pod-failure swaps in (default: the local
// cluster's pause image, images.PauseImage).
func WithPauseImage(ref string) Option { return func(c *Controller) { c.pauseImage = ref } }

// WithProbeNamespace sets the namespace of the readiness probe object
// (default "default").
func WithProbeNamespace(ns string) Option { return func(c *Controller) { c.probeNS = ns } }

// WithLogger sets the logger for progress messages (default: none).
func WithLogger(l *slog.Logger) Option { return func(c *Controller) { c.log = l } }

// Controller is one Chaos Mesh controller-manager process owned by
// firedrill, with its certificates, log and PID file in one folder.
type Controller struct {
	dir         string
	kubeconfig  string
	binDir      string
	metricsPort int
	webhookPort int
	pauseImage  string
	probeNS     string
	log         *slog.Logger
}

// New returns a Controller that keeps its files in dir (e.g.
// <cluster work dir>/chaos-mesh) and talks to the cluster of kubeconfig.
func New(dir, kubeconfig string, opts ...Option) *Controller {
	c := &Controller{
		dir:         dir,
		kubeconfig:  kubeconfig,
		metricsPort: DefaultMetricsPort,
		webhookPort: DefaultWebhookPort,
		pauseImage:  images.PauseImage,
		probeNS:     "default",
		log:         slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(c)
	}
	if c.binDir == "" {
		c.binDir = DefaultBinDir()
	}
	return c
}

// DirIn is the controller's folder inside a local cluster's work folder.
func DirIn(clusterWorkDir string) string { return filepath.Join(clusterWorkDir, "chaos-mesh") }

func (c *Controller) path(name string) string { return filepath.Join(c.dir, name) }

// LogPath is the controller's log file.
func (c *Controller) LogPath() string { return c.path(binary + ".log") }

func (c *Controller) pidPath() string { return c.path(binary + ".pid") }

// Start installs the CRDs, starts the controller-manager (or reuses a
// running one) and waits until it acts on chaos objects (Detect's probe).
// On failure it stops what it started and returns the end of its log.
func (c *Controller) Start(ctx context.Context) error {
	bin := filepath.Join(c.binDir, binary)
	if _, err := os.Stat(bin); err != nil {
		return fmt.Errorf("chaosmesh: %s not found in %s (run hack/build-chaos-mesh.sh or make tools): %w", binary, c.binDir, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", c.kubeconfig)
	if err != nil {
		return fmt.Errorf("chaosmesh: kubeconfig %s: %w", c.kubeconfig, err)
	}
	t0 := time.Now()
	if err := InstallCRDs(ctx, cfg, time.Minute); err != nil {
		return err
	}
	c.log.Info("chaos mesh CRDs installed", "took", time.Since(t0).Round(time.Millisecond))
	if r, err := proc.ReadPIDFile(c.pidPath()); err == nil && r.Alive() {
		if a := cm.Detect(ctx, cfg, cm.WithProbeNamespace(c.probeNS)); a.Controller {
			c.log.Info("chaos mesh controller-manager already running", "pid", r.PID)
			return nil
		}
		if err := proc.Stop(r, 10*time.Second); err != nil {
			return fmt.Errorf("chaosmesh: stop stale controller: %w", err)
		}
	}
	if err := writeCerts(c.path("certs")); err != nil {
		return err
	}
	for _, port := range []int{c.metricsPort, c.webhookPort} {
		if err := checkFree(port); err != nil {
			return err
		}
	}
	cmd := exec.Command(bin, "--kubeconfig="+c.kubeconfig)
	cmd.Env = append(os.Environ(),
		"CERTS_DIR="+c.path("certs"),
		"ENABLE_LEADER_ELECTION=false",
		"SECURITY_MODE=false",
		"CHAOSD_SECURITY_MODE=false",
		"METRICS_HOST=127.0.0.1",
		"METRICS_PORT="+strconv.Itoa(c.metricsPort),
		"WEBHOOK_HOST=127.0.0.1",
		"WEBHOOK_PORT="+strconv.Itoa(c.webhookPort),
		"POD_FAILURE_PAUSE_IMAGE="+c.pauseImage,
	)
	c.log.Info("starting chaos mesh controller-manager", "log", c.LogPath())
	r, err := proc.Start(cmd, c.LogPath(), c.pidPath())
	if err != nil {
		return fmt.Errorf("chaosmesh: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	readyCtx, cancel := context.WithTimeout(ctx, DefaultReadyTimeout)
	defer cancel()
	if err := c.waitReady(readyCtx, cfg, r); err != nil {
		_ = proc.StopPIDFile(c.pidPath(), 5*time.Second)
		return fmt.Errorf("chaosmesh: controller-manager not ready: %w\nlast log lines:\n%s", err, proc.TailFile(c.LogPath(), 20))
	}
	c.log.Info("chaos mesh controller-manager ready", "pid", r.PID, "took", time.Since(t0).Round(time.Millisecond))
	return nil
}

// waitReady probes until the controller takes up a probe object.
func (c *Controller) waitReady(ctx context.Context, cfg *rest.Config, r proc.Ref) error {
	var last string
	for {
		if !r.Alive() {
			return errors.New("the controller-manager exited")
		}
		a := cm.Detect(ctx, cfg, cm.WithProbeNamespace(c.probeNS), cm.WithProbeTimeout(5*time.Second))
		if a.Controller {
			return nil
		}
		last = a.Reason
		select {
		case <-ctx.Done():
			return fmt.Errorf("%w (last: %s)", ctx.Err(), last)
		case <-time.After(time.Second):
		}
	}
}

// Stop stops the controller by its PID file: SIGTERM, then SIGKILL of its
// process group after 5s. The controller-manager keeps no state, and it
// does not exit on one SIGTERM: its manager runs inside an fx Invoke, so
// the signal ends the manager and fx then waits for a second signal. It is
// a no-op when none runs.
func (c *Controller) Stop(_ context.Context) error {
	pid, t0 := c.PID(), time.Now()
	if err := proc.StopPIDFile(c.pidPath(), 5*time.Second); err != nil {
		return fmt.Errorf("chaosmesh: %w", err)
	}
	if pid != 0 {
		c.log.Info("chaos mesh controller-manager stopped", "pid", pid, "took", time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// Running reports whether the controller recorded in the folder is alive.
func (c *Controller) Running() bool { return c.PID() != 0 }

// PID returns the PID of the running controller, or 0.
func (c *Controller) PID() int {
	r, err := proc.ReadPIDFile(c.pidPath())
	if err != nil || !r.Alive() {
		return 0
	}
	return r.PID
}

func checkFree(port int) error {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("chaosmesh: %s is taken by another process: %w", addr, err)
	}
	return l.Close()
}
