package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
)

// Timeouts of the process lifecycle.
const (
	// migrateTimeout bounds how long start-up waits for the database.
	migrateTimeout = time.Minute
	// shutdownTimeout bounds draining in-flight requests on SIGTERM; it
	// stays below Kubernetes' default 30 s grace period.
	shutdownTimeout = 20 * time.Second
)

func main() {
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	cfg, err := LoadConfig(os.Getenv)
	if err != nil {
		log.Error("invalid configuration", "err", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	if err := run(ctx, cfg, log); err != nil {
		log.Error("payment service failed", "err", err)
		stop()
		os.Exit(1)
	}
}

// run serves at once (live, not ready), migrates the database, turns ready
// and serves until ctx is done; then it turns unready, drains in-flight
// requests and closes the pool.
func run(ctx context.Context, cfg Config, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	log.Info("starting payment service", "version", cfg.Version, "behaviour", cfg.Behaviour,
		"fault_rate", cfg.FaultRate, "ledger_mode", cfg.LedgerMode, "listen", cfg.Listen)
	poolCfg, err := pgxpool.ParseConfig(cfg.DSN)
	if err != nil {
		// pgx redacts the password in its parse errors.
		return fmt.Errorf("parse %s: %w", EnvDSN, err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("database pool: %w", err)
	}
	defer pool.Close()
	srv, err := NewServer(cfg, NewLedger(pool), WithLogger(log))
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Serve at once so that liveness holds while the database is awaited;
	// readiness waits for the migrations.
	srv.SetStarting(true)
	httpSrv := &http.Server{Handler: srv, ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- httpSrv.Serve(ln) }()
	log.Info("serving", "addr", ln.Addr().String())

	bgCtx, cancelBg := context.WithCancel(ctx)
	defer cancelBg()
	if err := migrateWithRetry(ctx, pool, cfg.Accounts, log); err != nil && ctx.Err() == nil {
		_ = httpSrv.Close()
		return err
	}
	if ctx.Err() == nil {
		srv.SetStarting(false)
		go srv.Run(bgCtx)
		log.Info("ready")
	}

	select {
	case err := <-serveErr:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: draining in-flight requests", "timeout", shutdownTimeout.String())
	srv.SetDraining()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := httpSrv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-serveErr; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// migrateWithRetry runs Migrate until it succeeds, ctx is done or
// migrateTimeout passes, backing off between attempts: the database may
// start after the service.
func migrateWithRetry(ctx context.Context, pool *pgxpool.Pool, accounts int, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, migrateTimeout)
	defer cancel()
	backoff := 250 * time.Millisecond
	for {
		err := Migrate(ctx, pool, accounts, log)
		if err == nil {
			return nil
		}
		log.Warn("migration failed; retrying", "err", err, "in", backoff.String())
		if sleepCtx(ctx, backoff) != nil {
			return fmt.Errorf("database not ready within %s: %w", migrateTimeout, err)
		}
		backoff = min(2*backoff, 5*time.Second)
	}
}
