package main

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"sync/atomic"
	"time"
)

// Defaults of the server's background work.
const (
	// DefaultMismatchInterval is how often ledger_balance_mismatch is
	// refreshed.
	DefaultMismatchInterval = time.Second
	// readyPingTimeout bounds the database ping behind /readyz.
	readyPingTimeout = time.Second
	// maxBodyBytes bounds a request body.
	maxBodyBytes = 1 << 20
)

// Option configures a Server.
type Option func(*Server)

// WithLogger sets the logger (default: discard).
func WithLogger(l *slog.Logger) Option { return func(s *Server) { s.log = l } }

// WithRand sets the random source of fault sampling; a seeded source makes
// the buggy and corrupt behaviours deterministic (default: time-seeded).
func WithRand(r *rand.Rand) Option { return func(s *Server) { s.rng = r } }

// WithMismatchInterval sets how often Run refreshes
// ledger_balance_mismatch (default 1s).
func WithMismatchInterval(d time.Duration) Option { return func(s *Server) { s.interval = d } }

// WithExit sets the function the crash behaviour calls with status 1
// (default os.Exit); tests replace it.
func WithExit(exit func(code int)) Option { return func(s *Server) { s.exit = exit } }

// WithMetrics sets the metrics (default: NewMetrics(cfg.Version,
// cfg.Behaviour)).
func WithMetrics(m *Metrics) Option { return func(s *Server) { s.metrics = m } }

// Server is the payment HTTP API over a Store, with the configured
// behaviour applied.
type Server struct {
	cfg      Config
	store    Store
	metrics  *Metrics
	faults   *faultSampler
	rng      *rand.Rand
	log      *slog.Logger
	interval time.Duration
	exit     func(int)
	mux      *http.ServeMux
	// unmatched serves, instrumented under the "unmatched" path label,
	// requests that match no route (the mux answers 404 or 405).
	unmatched http.Handler
	draining  atomic.Bool
	starting  atomic.Bool
}

// NewServer returns the HTTP API for cfg over store. Run starts its
// background work; the Server itself is an http.Handler.
func NewServer(cfg Config, store Store, opts ...Option) (*Server, error) {
	if store == nil {
		return nil, errors.New("payment server: store is nil")
	}
	if _, err := ParseBehaviour(string(cfg.Behaviour)); err != nil {
		return nil, err
	}
	if cfg.LedgerMode == "" {
		cfg.LedgerMode = LedgerModeNormal
	}
	s := &Server{cfg: cfg, store: store, interval: DefaultMismatchInterval, exit: os.Exit}
	for _, o := range opts {
		if o != nil {
			o(s)
		}
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		s.metrics = NewMetrics(cfg.Version, cfg.Behaviour)
	}
	if s.interval <= 0 {
		s.interval = DefaultMismatchInterval
	}
	rate := 0.0
	if cfg.Behaviour == BehaviourBuggy || cfg.Behaviour == BehaviourCorrupt {
		rate = cfg.FaultRate
	}
	s.faults = newFaultSampler(rate, s.rng)
	if cfg.FaultPeriod > 0 {
		s.faults.flapping(cfg.FaultPeriod, nil)
	}
	s.routes()
	return s, nil
}

// routes registers the endpoints. Ledger endpoints are instrumented and go
// through the behaviour; probes and /metrics are neither, so that probe
// traffic never dilutes the error rate the drills watch.
func (s *Server) routes() {
	s.mux = http.NewServeMux()
	api := map[string]http.HandlerFunc{
		"POST /transfers":    s.handleTransfer,
		"GET /balances/{id}": s.handleBalance,
		"GET /accounts":      s.handleAccounts,
	}
	for pattern, h := range api {
		s.mux.Handle(pattern, s.metrics.instrument(pattern, s.ledgerGate(h)))
	}
	s.mux.HandleFunc("GET /healthz", s.handleHealthz)
	s.mux.HandleFunc("GET /readyz", s.handleReadyz)
	s.mux.Handle("GET /metrics", s.metrics.Handler())
	s.unmatched = s.metrics.instrument("", s.mux)
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if _, pattern := s.mux.Handler(r); pattern == "" {
		s.unmatched.ServeHTTP(w, r)
		return
	}
	s.mux.ServeHTTP(w, r)
}

// Metrics returns the server's metrics.
func (s *Server) Metrics() *Metrics { return s.metrics }

// SetStarting marks the server as starting (true) or started (false):
// while starting, /readyz answers 503, e.g. until the migrations are done.
func (s *Server) SetStarting(v bool) { s.starting.Store(v) }

// SetDraining marks the server as shutting down: /readyz answers 503 so
// that the pod leaves the Service while in-flight requests finish.
func (s *Server) SetDraining() { s.draining.Store(true) }

// Run does the background work until ctx is done: it refreshes
// ledger_balance_mismatch every interval and, for the crash behaviour,
// calls exit(1) after CrashAfter.
func (s *Server) Run(ctx context.Context) {
	if s.cfg.Behaviour == BehaviourCrash {
		t := time.AfterFunc(s.cfg.CrashAfter, func() {
			s.log.Error("crash behaviour: exiting with status 1", "after", s.cfg.CrashAfter)
			s.exit(1)
		})
		defer t.Stop()
	}
	tick := time.NewTicker(s.interval)
	defer tick.Stop()
	for {
		s.RefreshMismatch(ctx)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RefreshMismatch queries the ledger once and sets
// ledger_balance_mismatch; on error the last value is kept.
func (s *Server) RefreshMismatch(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, max(s.interval, time.Second))
	defer cancel()
	m, err := s.store.Mismatch(ctx)
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("refresh ledger_balance_mismatch", "err", err)
		}
		return
	}
	s.metrics.SetMismatch(m)
}
