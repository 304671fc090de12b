package prometheus

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
	"time"

	"github.com/firedrill/firedrill/clusters/internal/proc"
)

// Defaults.
const (
	DefaultListen = "127.0.0.1:9090"
	// DefaultScrapeInterval is also the rule evaluation interval: a
	// fresh sample every 500 ms halves what the engine waits for the
	// newest errors, for a few more scrapes of tens of pods.
	DefaultScrapeInterval = 500 * time.Millisecond
	DefaultReadyTimeout   = time.Minute
	// DefaultRetention keeps a drill's worth of data; the server is
	// throwaway.
	DefaultRetention = "6h"
)

// Option configures a Server.
type Option func(*Server)

// WithListen sets the address the server listens on (default
// 127.0.0.1:9090; loopback only).
func WithListen(addr string) Option { return func(s *Server) { s.listen = addr } }

// WithBinDir sets the folder holding the prometheus and promtool binaries
// (default: $FIREDRILL_PROMETHEUS_BIN, else the tool cache).
func WithBinDir(dir string) Option { return func(s *Server) { s.binDir = dir } }

// detectionFlags are the flags that let a new revision's errors reach
// queries quickly; deploy/kind's Prometheus carries the same (a test checks
// it).
func detectionFlags(interval time.Duration) []string {
	return []string{
		// The scrape manager applies discovered targets at most this
		// often (Prometheus's default is 5 s): a new revision's pods are
		// then scraped about a second after they run, not up to 5 s
		// later, which is most of a rollback engine's detection time.
		"--scrape.discovery-reload-interval=" + reloadInterval(interval).String(),
		// A counter's creation time becomes a zero sample, so increase()
		// over a new pod's first scrape is exact: a new revision's
		// requests and errors count from its first request, one scrape
		// sooner and without losing those served before the first scrape.
		"--enable-feature=created-timestamp-zero-ingestion",
	}
}

// reloadInterval is how often the scrape manager takes up discovered
// targets: half the scrape interval, at least 250 ms. A drill cluster has
// tens of targets, so a reload costs microseconds.
func reloadInterval(scrape time.Duration) time.Duration {
	return max(scrape/2, 250*time.Millisecond)
}

// WithScrapeInterval sets the scrape and rule evaluation interval (default
// 1s).
func WithScrapeInterval(d time.Duration) Option { return func(s *Server) { s.interval = d } }

// WithRuleFiles adds alert rule files; each is checked with promtool
// before the server starts.
func WithRuleFiles(files ...string) Option {
	return func(s *Server) { s.ruleFiles = append(s.ruleFiles, files...) }
}

// WithNamespaces limits pod discovery to these namespaces (default: all).
func WithNamespaces(ns ...string) Option { return func(s *Server) { s.namespaces = ns } }

// WithLogger sets the logger for progress messages (default: none).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// Server is one Prometheus server owned by firedrill.
type Server struct {
	dir        string
	kubeconfig string
	listen     string
	binDir     string
	interval   time.Duration
	ruleFiles  []string
	namespaces []string
	log        *slog.Logger
}

// New returns a Server that keeps its config, data, log and PID file in
// dir and discovers pods through kubeconfig.
func New(dir, kubeconfig string, opts ...Option) *Server {
	s := &Server{
		dir:        dir,
		kubeconfig: kubeconfig,
		listen:     DefaultListen,
		interval:   DefaultScrapeInterval,
		log:        slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
	for _, o := range opts {
		o(s)
	}
	if s.binDir == "" {
		s.binDir = DefaultBinDir()
	}
	return s
}

// DefaultBinDir is where hack/tools.sh puts the pinned Prometheus build.
func DefaultBinDir() string {
	if d := os.Getenv("FIREDRILL_PROMETHEUS_BIN"); d != "" {
		return d
	}
	cache := os.Getenv("FIREDRILL_CACHE")
	if cache == "" {
		cache = "/var/cache/firedrill"
	}
	return filepath.Join(cache, "tools", "prometheus-"+Version, "bin")
}

// Version is the pinned Prometheus module version (hack/versions.env).
const Version = "v0.316.0"

// URL is the server's HTTP API base URL.
func (s *Server) URL() string { return "http://" + s.listen }

func (s *Server) path(name string) string { return filepath.Join(s.dir, name) }

// Start checks the rules and the config with promtool, starts the server
// (or reuses a running one) and waits until it is ready and has discovered
// the cluster. On failure it stops what it started and returns the last
// lines of the server log.
func (s *Server) Start(ctx context.Context) error {
	if err := os.MkdirAll(s.path("data"), 0o755); err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	if r, err := proc.ReadPIDFile(s.path("prometheus.pid")); err == nil && r.Alive() {
		switch was, ok := configuredInterval(s.path("prometheus.yml")); {
		case ok && was != s.interval:
			// Asked for another scrape interval: restart with it.
			s.log.Info("restarting prometheus with a new scrape interval", "was", was, "now", s.interval)
		case s.ready(ctx) == nil:
			s.log.Info("prometheus already running", "url", s.URL(), "pid", r.PID)
			return nil
		}
		if err := proc.Stop(r, 10*time.Second); err != nil {
			return fmt.Errorf("prometheus: stop stale server: %w", err)
		}
	}
	for _, b := range []string{"prometheus", "promtool"} {
		if _, err := os.Stat(filepath.Join(s.binDir, b)); err != nil {
			return fmt.Errorf("prometheus: %s not found in %s (run make tools): %w", b, s.binDir, err)
		}
	}
	var rules []string
	for _, f := range s.ruleFiles {
		abs, err := filepath.Abs(f)
		if err != nil {
			return fmt.Errorf("prometheus: %w", err)
		}
		if out, err := s.promtool(ctx, "check", "rules", abs); err != nil {
			return fmt.Errorf("prometheus: rules %s do not pass promtool: %w\n%s", f, err, out)
		}
		rules = append(rules, abs)
	}
	cfg, err := renderConfig(s.listen, s.kubeconfig, s.interval, rules, s.namespaces)
	if err != nil {
		return err
	}
	cfgPath := s.path("prometheus.yml")
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	if out, err := s.promtool(ctx, "check", "config", "--syntax-only", cfgPath); err != nil {
		return fmt.Errorf("prometheus: config does not pass promtool: %w\n%s", err, out)
	}
	if err := checkFree(s.listen); err != nil {
		return err
	}
	cmd := exec.Command(filepath.Join(s.binDir, "prometheus"),
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+s.path("data"),
		"--storage.tsdb.retention.time="+DefaultRetention,
		"--web.listen-address="+s.listen,
		"--web.enable-lifecycle",
		"--log.level=warn",
	)
	cmd.Args = append(cmd.Args, detectionFlags(s.interval)...)
	s.log.Info("starting prometheus", "url", s.URL(), "scrape_interval", s.interval)
	r, err := proc.Start(cmd, s.path("prometheus.log"), s.path("prometheus.pid"))
	if err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	go func() { _ = cmd.Wait() }()
	readyCtx, cancel := context.WithTimeout(ctx, DefaultReadyTimeout)
	defer cancel()
	if err := s.waitReady(readyCtx, r); err != nil {
		_ = proc.StopPIDFile(s.path("prometheus.pid"), 10*time.Second)
		return fmt.Errorf("prometheus: not ready: %w\nlast log lines:\n%s", err, proc.TailFile(s.path("prometheus.log"), 20))
	}
	s.log.Info("prometheus ready", "url", s.URL(), "pid", r.PID)
	return nil
}

// Stop stops the server by its PID file. Its data folder is kept until
// Delete.
func (s *Server) Stop(_ context.Context) error {
	if err := proc.StopPIDFile(s.path("prometheus.pid"), 15*time.Second); err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	return nil
}

// Delete stops the server and removes its folder.
func (s *Server) Delete(ctx context.Context) error {
	if err := s.Stop(ctx); err != nil {
		return err
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("prometheus: %w", err)
	}
	return nil
}

// Running reports whether the server recorded in the folder is alive.
func (s *Server) Running() bool {
	r, err := proc.ReadPIDFile(s.path("prometheus.pid"))
	return err == nil && r.Alive()
}

func (s *Server) promtool(ctx context.Context, args ...string) ([]byte, error) {
	return exec.CommandContext(ctx, filepath.Join(s.binDir, "promtool"), args...).CombinedOutput()
}

func (s *Server) waitReady(ctx context.Context, r proc.Ref) error {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if !r.Alive() {
			return errors.New("the server exited")
		}
		if err := s.ready(ctx); err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (s *Server) ready(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL()+"/-/ready", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/-/ready: %s", resp.Status)
	}
	return nil
}

// checkFree fails early, with a clear message, when another process holds
// the listen address.
func checkFree(addr string) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("prometheus: %s is taken by another process (choose another with --prometheus-listen): %w", addr, err)
	}
	return l.Close()
}

// PID returns the PID of the running server, or 0.
func (s *Server) PID() int {
	r, err := proc.ReadPIDFile(s.path("prometheus.pid"))
	if err != nil || !r.Alive() {
		return 0
	}
	return r.PID
}
