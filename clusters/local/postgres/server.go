package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/firedrill/firedrill/clusters/internal/proc"
)

// ErrNoPodAddress means PodDSN was asked for but the server listens on
// loopback only.
var ErrNoPodAddress = errors.New("no pod-reachable listen address (use WithListenAddresses(DefaultPodAddress))")

// Server is one private PostgreSQL instance owned by firedrill. Its methods
// are safe for concurrent use, but only one Server should manage a work
// folder at a time.
type Server struct {
	workDir string
	binDir  string
	port    int
	listen  []string
	podCIDR netip.Prefix
	timeout time.Duration
	log     *slog.Logger

	mu        sync.Mutex
	password  string // the ledger role's, loaded by Start
	superPass string // the postgres role's, loaded by Start
}

// New returns a Server configured by opts; nothing is touched until Start.
func New(opts ...Option) (*Server, error) {
	s := &Server{
		port:    DefaultPort,
		listen:  []string{loopback},
		podCIDR: netip.MustParsePrefix(DefaultPodCIDR),
		timeout: DefaultTimeout,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(s); err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
	}
	if s.workDir == "" {
		s.workDir = defaultWorkDir()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s, nil
}

// addListen adds addr to the listen addresses once.
func (s *Server) addListen(addr string) {
	for _, a := range s.listen {
		if a == addr {
			return
		}
	}
	s.listen = append(s.listen, addr)
}

// WorkDir returns the work folder.
func (s *Server) WorkDir() string { return s.workDir }

// Port returns the TCP port.
func (s *Server) Port() int { return s.port }

// ListenAddresses returns the addresses the server listens on, loopback
// first.
func (s *Server) ListenAddresses() []string { return append([]string(nil), s.listen...) }

// DSN returns the URL the ledger role uses from this host (over
// 127.0.0.1). It carries the password, so never log it; it is valid after
// Start.
func (s *Server) DSN() string { return s.dsn(loopback) }

// PodDSN returns the URL pods use: the first listen address other than
// loopback (normally the bridge gateway). It carries the password; it is
// valid after Start.
func (s *Server) PodDSN() (string, error) {
	for _, a := range s.listen {
		if ip, err := netip.ParseAddr(a); err == nil && !ip.IsLoopback() {
			return s.dsn(a), nil
		}
	}
	return "", fmt.Errorf("postgres: %w", ErrNoPodAddress)
}

// dsn builds the ledger role's URL for host.
func (s *Server) dsn(host string) string {
	s.mu.Lock()
	pw := s.password
	s.mu.Unlock()
	return pgURL(Role, pw, host, s.port, Database)
}

// superDSN is the postgres superuser's URL to database db over loopback.
func (s *Server) superDSN(db string) string {
	s.mu.Lock()
	pw := s.superPass
	s.mu.Unlock()
	return pgURL(SystemUser, pw, loopback, s.port, db)
}

// pgURL builds a postgres:// URL without TLS (the traffic never leaves the
// machine).
func pgURL(user, password, host string, port int, db string) string {
	u := url.URL{
		Scheme:   "postgres",
		User:     url.UserPassword(user, password),
		Host:     net.JoinHostPort(host, strconv.Itoa(port)),
		Path:     "/" + db,
		RawQuery: "sslmode=disable",
	}
	return u.String()
}

// Paths inside the work folder.
func (s *Server) dataDir() string      { return filepath.Join(s.workDir, "data") }
func (s *Server) runDir() string       { return filepath.Join(s.workDir, "run") }
func (s *Server) pidPath() string      { return filepath.Join(s.workDir, "postgres.pid") }
func (s *Server) logPath() string      { return filepath.Join(s.workDir, "postgres.log") }
func (s *Server) passwordPath() string { return filepath.Join(s.workDir, "password") }
func (s *Server) superPath() string    { return filepath.Join(s.workDir, "superuser-password") }

// Start initialises the data folder if needed, starts the server (or
// reuses a running one), waits until it accepts connections and makes sure
// the ledger role and database exist. If it started the server and a later
// step fails, it stops it again and the error carries the log's last lines.
func (s *Server) Start(ctx context.Context) error {
	if err := s.start(ctx); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

func (s *Server) start(ctx context.Context) error {
	if s.binDir == "" {
		dir, err := FindBinDir()
		if err != nil {
			return err
		}
		s.binDir = dir
	} else if err := checkBinDir(s.binDir); err != nil {
		return err
	}
	u, err := lookupSystemUser()
	if err != nil {
		return err
	}
	if err := s.prepareWorkDir(u); err != nil {
		return err
	}
	if err := s.loadSecrets(); err != nil {
		return err
	}

	readyCtx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	if r, ok := s.running(); ok {
		s.log.Info("postgresql already running", "pid", r.PID, "port", s.port)
		if err := s.waitReady(readyCtx, r, nil); err != nil {
			return fmt.Errorf("running instance (pid %d) not ready: %w", r.PID, err)
		}
		return s.ensureDatabase(readyCtx)
	}
	if err := s.checkListen(); err != nil {
		return err
	}
	if err := s.removeStale(); err != nil {
		return err
	}
	if err := s.initdb(ctx, u); err != nil {
		return err
	}
	if err := s.writeHBA(u); err != nil {
		return err
	}

	cmd := exec.Command(filepath.Join(s.binDir, "postgres"), s.serverArgs()...)
	cmd.Dir = s.dataDir()
	cmd.Env = processEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.credential()}
	s.log.Info("starting postgresql", "bin", s.binDir, "port", s.port, "listen", s.listen, "data", s.dataDir())
	r, err := proc.Start(cmd, s.logPath(), s.pidPath())
	if err != nil {
		return err
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()

	err = s.waitReady(readyCtx, r, exited)
	if err == nil {
		err = s.ensureDatabase(readyCtx)
	}
	if err != nil {
		_ = s.stop(r, 10*time.Second)
		_ = os.Remove(s.pidPath())
		return fmt.Errorf("%w\nlast lines of %s:\n%s", err, s.logPath(), proc.TailFile(s.logPath(), 20))
	}
	s.log.Info("postgresql ready", "pid", r.PID, "port", s.port)
	return nil
}

// serverArgs are the postgres command line: every setting firedrill needs
// is given here, so the generated postgresql.conf is never edited.
func (s *Server) serverArgs() []string {
	listen := ""
	for i, a := range s.listen {
		if i > 0 {
			listen += ","
		}
		listen += a
	}
	return []string{
		"-D", s.dataDir(),
		"-p", strconv.Itoa(s.port),
		"-k", s.runDir(),
		"-c", "listen_addresses=" + listen,
		"-c", "password_encryption=scram-sha-256",
		"-c", "max_connections=100",
		"-c", "shared_buffers=32MB",
		"-c", "logging_collector=off",
		"-c", "log_destination=stderr",
		"-c", "log_min_messages=warning",
	}
}

// checkListen fails early, with a clear message, when a listen address is
// not on this machine (PostgreSQL would only warn and stay unreachable from
// pods) or the port is taken.
func (s *Server) checkListen() error {
	local := map[string]bool{}
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return fmt.Errorf("list interface addresses: %w", err)
	}
	for _, a := range addrs {
		if p, err := netip.ParsePrefix(a.String()); err == nil {
			local[p.Addr().String()] = true
		}
	}
	for _, a := range s.listen {
		if a != loopback && !local[a] {
			return fmt.Errorf("listen address %s is not assigned to this machine (for the pod gateway, create the local cluster first)", a)
		}
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(loopback, strconv.Itoa(s.port)))
	if err != nil {
		return fmt.Errorf("port %d on %s is taken (choose another with WithPort): %w", s.port, loopback, err)
	}
	return ln.Close()
}

// waitReady polls pg_isready, then a pgx ping as the superuser, until both
// succeed, the process exits or ctx is done.
func (s *Server) waitReady(ctx context.Context, r proc.Ref, exited <-chan struct{}) error {
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		if !r.Alive() {
			return fmt.Errorf("postgres (pid %d) exited", r.PID)
		}
		last := s.probe(ctx)
		if last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not ready: %w (last check: %v)", ctx.Err(), last)
		case <-exited:
			return fmt.Errorf("postgres (pid %d) exited during start-up", r.PID)
		case <-tick.C:
		}
	}
}

// probe runs pg_isready once and, if it reports the server accepting
// connections, a pgx ping.
func (s *Server) probe(ctx context.Context) error {
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	cmd := exec.CommandContext(pctx, filepath.Join(s.binDir, "pg_isready"),
		"-h", loopback, "-p", strconv.Itoa(s.port), "-d", "postgres", "-t", "1")
	cmd.Env = processEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("pg_isready: %w: %s", err, out)
	}
	conn, err := pgx.Connect(pctx, s.superDSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(pctx))
	if err := conn.Ping(pctx); err != nil {
		return fmt.Errorf("ping: %w", err)
	}
	return nil
}

// ensureDatabase creates the ledger role (or resets its password to the one
// in the password file) and the ledger database it owns.
func (s *Server) ensureDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, s.superDSN("postgres"))
	if err != nil {
		return fmt.Errorf("connect as %s: %w", SystemUser, err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var roleExists, dbExists bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)`, Role).Scan(&roleExists); err != nil {
		return fmt.Errorf("look up role %s: %w", Role, err)
	}
	verb := "CREATE"
	if roleExists {
		verb = "ALTER"
	}
	s.mu.Lock()
	pw := s.password
	s.mu.Unlock()
	stmt := fmt.Sprintf("%s ROLE %s WITH LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD %s",
		verb, pgx.Identifier{Role}.Sanitize(), quoteLiteral(pw))
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return fmt.Errorf("%s role %s: %w", verb, Role, err)
	}
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, Database).Scan(&dbExists); err != nil {
		return fmt.Errorf("look up database %s: %w", Database, err)
	}
	if !dbExists {
		stmt := fmt.Sprintf("CREATE DATABASE %s OWNER %s", pgx.Identifier{Database}.Sanitize(), pgx.Identifier{Role}.Sanitize())
		if _, err := conn.Exec(ctx, stmt); err != nil {
			return fmt.Errorf("create database %s: %w", Database, err)
		}
		s.log.Info("created database", "database", Database, "owner", Role)
	}
	return nil
}

// Running reports whether this work folder's server is running.
func (s *Server) Running() bool {
	_, ok := s.running()
	return ok
}

// PID returns the running server's postmaster PID, or 0.
func (s *Server) PID() int {
	r, ok := s.running()
	if !ok {
		return 0
	}
	return r.PID
}

// Stop stops the server, if it runs, by PID: SIGTERM, then SIGINT (fast
// shutdown) and finally SIGKILL of its process group, within the timeout
// (or ctx's deadline when sooner). It is safe to call when nothing runs.
func (s *Server) Stop(ctx context.Context) error {
	r, ok := s.running()
	if !ok {
		if err := os.Remove(s.pidPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("postgres: %w", err)
		}
		return nil
	}
	timeout := s.timeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < timeout {
		timeout = max(time.Until(dl), time.Second)
	}
	s.log.Info("stopping postgresql", "pid", r.PID)
	if err := s.stop(r, timeout); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	if err := os.Remove(s.pidPath()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// smartShutdownGrace is how long Stop lets clients disconnect by
// themselves after SIGTERM before it asks for a fast shutdown.
const smartShutdownGrace = 2 * time.Second

// stop signals r as Stop describes, spending at most about timeout.
func (s *Server) stop(r proc.Ref, timeout time.Duration) error {
	_ = syscall.Kill(r.PID, syscall.SIGTERM) // smart shutdown: waits for clients
	if proc.WaitGone(r, min(smartShutdownGrace, timeout/3)) {
		return nil
	}
	s.log.Info("postgresql has clients after SIGTERM; fast shutdown", "pid", r.PID)
	_ = syscall.Kill(r.PID, syscall.SIGINT) // fast shutdown: disconnects clients
	if proc.WaitGone(r, timeout/3) {
		return nil
	}
	s.log.Warn("postgresql still running after SIGINT; killing its process group", "pid", r.PID)
	return proc.Stop(r, timeout/3)
}

// Delete stops the server and removes the work folder.
func (s *Server) Delete(ctx context.Context) error {
	if err := s.Stop(ctx); err != nil {
		return err
	}
	if err := os.RemoveAll(s.workDir); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}

// processEnv is the environment of the programs Start runs: a fixed,
// minimal one, so that PG* variables of the caller never leak in.
func processEnv() []string {
	return []string{"PATH=/usr/sbin:/usr/bin:/sbin:/bin", "LC_ALL=C", "LANG=C"}
}
