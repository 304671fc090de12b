// Package pgtest starts a private PostgreSQL for a test: on a free loopback
// port, in a temporary folder the postgres user can reach, stopped and
// removed at the test's cleanup. Where it cannot run (not root, no server
// binaries) the test skips, or fails under make test.
package pgtest

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"

	"github.com/firedrill/firedrill/clusters/local/postgres"
	"github.com/firedrill/firedrill/internal/testenv"
)

// Start starts the server and returns it; use its DSN for connections.
func Start(tb testing.TB, ctx context.Context) *postgres.Server {
	tb.Helper()
	testenv.Integration(tb)
	if _, err := postgres.FindBinDir(); err != nil {
		testenv.Missing(tb, err.Error())
	}
	dir, err := os.MkdirTemp("", "firedrill-pg-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = os.RemoveAll(dir) })
	// The postgres user must pass through the folder.
	if err := os.Chmod(dir, 0o711); err != nil {
		tb.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	pg, err := postgres.New(postgres.WithWorkDir(filepath.Join(dir, "work")), postgres.WithPort(port))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = pg.Stop(context.Background()) })
	if err := pg.Start(ctx); err != nil {
		tb.Fatalf("start postgres: %v", err)
	}
	return pg
}
