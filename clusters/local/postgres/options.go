package postgres

import (
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"time"
)

// Defaults.
const (
	// DefaultPort is the TCP port; not 5432, so a system PostgreSQL is
	// never in the way.
	DefaultPort = 55432
	// DefaultPodAddress is the local cluster's bridge gateway, the address
	// pods reach the host at.
	DefaultPodAddress = "10.244.0.1"
	// DefaultPodCIDR is the local cluster's pod CIDR, admitted by
	// pg_hba.conf.
	DefaultPodCIDR = "10.244.0.0/24"
	// DefaultHome is the firedrill home when FIREDRILL_HOME is unset.
	DefaultHome = "/var/lib/firedrill"
	// DefaultTimeout bounds Start's wait for readiness and Stop's wait for
	// the process to exit.
	DefaultTimeout = 30 * time.Second
	// SystemUser is the operating system user PostgreSQL runs as.
	SystemUser = "postgres"
	// Role is the login role the ledger service uses.
	Role = "ledger"
	// Database is the database the ledger service uses.
	Database = "ledger"
	// loopback is the address the server always listens on.
	loopback = "127.0.0.1"
)

// Option configures a Server.
type Option func(*Server) error

// WithWorkDir sets the work folder (default $FIREDRILL_HOME/postgres, or
// /var/lib/firedrill/postgres).
func WithWorkDir(dir string) Option {
	return func(s *Server) error {
		if dir == "" {
			return fmt.Errorf("work folder is empty")
		}
		abs, err := filepath.Abs(dir)
		if err != nil {
			return fmt.Errorf("work folder: %w", err)
		}
		s.workDir = abs
		return nil
	}
}

// WithPort sets the TCP port (default 55432).
func WithPort(port int) Option {
	return func(s *Server) error {
		if port < 1 || port > 65535 {
			return fmt.Errorf("port %d is not between 1 and 65535", port)
		}
		s.port = port
		return nil
	}
}

// WithListenAddresses adds IP addresses to listen on besides 127.0.0.1,
// which is always included; pass DefaultPodAddress for pods of the local
// cluster. Each must be assigned to this machine when Start runs.
func WithListenAddresses(addrs ...string) Option {
	return func(s *Server) error {
		for _, a := range addrs {
			ip, err := netip.ParseAddr(a)
			if err != nil {
				return fmt.Errorf("listen address %q is not an IP address", a)
			}
			if ip.IsUnspecified() {
				return fmt.Errorf("listen address %q would listen everywhere; give the bridge gateway address instead", a)
			}
			s.addListen(ip.String())
		}
		return nil
	}
}

// WithPodCIDR sets the network pg_hba.conf admits besides loopback
// (default 10.244.0.0/24).
func WithPodCIDR(cidr string) Option {
	return func(s *Server) error {
		p, err := netip.ParsePrefix(cidr)
		if err != nil {
			return fmt.Errorf("pod CIDR %q: %w", cidr, err)
		}
		s.podCIDR = p.Masked()
		return nil
	}
}

// WithBinDir sets the folder holding initdb, postgres and pg_isready
// (default: the newest /usr/lib/postgresql/<major>/bin).
func WithBinDir(dir string) Option {
	return func(s *Server) error {
		s.binDir = dir
		return nil
	}
}

// WithTimeout sets how long Start waits for readiness and Stop for the
// process to exit (default 30s).
func WithTimeout(d time.Duration) Option {
	return func(s *Server) error {
		if d <= 0 {
			return fmt.Errorf("timeout must be positive, got %s", d)
		}
		s.timeout = d
		return nil
	}
}

// WithLogger sets the logger for progress messages (default: none).
func WithLogger(l *slog.Logger) Option {
	return func(s *Server) error {
		s.log = l
		return nil
	}
}

// defaultWorkDir is $FIREDRILL_HOME/postgres or /var/lib/firedrill/postgres.
func defaultWorkDir() string {
	home := os.Getenv("FIREDRILL_HOME")
	if home == "" {
		home = DefaultHome
	}
	return filepath.Join(home, "postgres")
}
