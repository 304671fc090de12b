package postgres

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/firedrill/firedrill/clusters/internal/proc"
	"github.com/firedrill/firedrill/internal/testenv"
)

// requireCanRun skips the test, saying why, unless this machine can run a
// private PostgreSQL: root and Debian's server binaries.
func requireCanRun(t *testing.T) {
	t.Helper()
	testenv.Integration(t)
	if _, err := FindBinDir(); err != nil {
		testenv.Missing(t, err.Error())
	}
	if _, err := lookupSystemUser(); err != nil {
		testenv.Missing(t, err.Error())
	}
}

// freePort returns a loopback TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// workDir returns a fresh work folder under /tmp (not t.TempDir, whose
// 0700 parent the postgres user could not traverse), removed at cleanup.
func workDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "firedrill-pg-")
	require.NoError(t, err)
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	require.NoError(t, os.Chmod(dir, 0o711))
	return filepath.Join(dir, "work")
}

// backends returns the live children of pid.
func backends(t *testing.T, pid int) []proc.Ref {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	require.NoError(t, err)
	var out []proc.Ref
	for _, e := range entries {
		child, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		if err != nil {
			continue
		}
		if ppidOf(string(data)) == pid {
			if r, err := proc.Of(child); err == nil {
				out = append(out, r)
			}
		}
	}
	return out
}

func ppidOf(status string) int {
	for _, line := range splitLines(status) {
		if len(line) > 5 && line[:5] == "PPid:" {
			n, _ := strconv.Atoi(trimSpace(line[5:]))
			return n
		}
	}
	return -1
}

func TestServerLifecycle(t *testing.T) {
	requireCanRun(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	s, err := New(WithWorkDir(workDir(t)), WithPort(freePort(t)), WithTimeout(30*time.Second))
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Stop(context.Background()) })

	require.NoError(t, s.Start(ctx))
	pid := s.PID()
	require.NotZero(t, pid)
	fi, err := os.Stat(filepath.Join(s.WorkDir(), "password"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	st, err := os.Stat(filepath.Join(s.WorkDir(), "data"))
	require.NoError(t, err)
	u, _ := lookupSystemUser()
	require.Equal(t, u.uid, st.Sys().(*syscall.Stat_t).Uid, "the data folder belongs to postgres")

	// The ledger role logs in over loopback, owns its database and is no
	// superuser; a wrong password is refused.
	conn, err := pgx.Connect(ctx, s.DSN())
	require.NoError(t, err)
	var super bool
	var owner string
	require.NoError(t, conn.QueryRow(ctx, `SELECT rolsuper FROM pg_roles WHERE rolname = current_user`).Scan(&super))
	require.NoError(t, conn.QueryRow(ctx, `SELECT pg_get_userbyid(datdba) FROM pg_database WHERE datname = current_database()`).Scan(&owner))
	require.False(t, super)
	require.Equal(t, "ledger", owner)
	require.NoError(t, conn.Close(ctx))
	bad := "postgres://ledger:wrong@127.0.0.1:" + strconv.Itoa(s.Port()) + "/ledger?sslmode=disable"
	_, err = pgx.Connect(ctx, bad)
	require.ErrorContains(t, err, "password authentication failed")

	// Start again reuses the running instance, also from a fresh Server.
	require.NoError(t, s.Start(ctx))
	require.Equal(t, pid, s.PID())
	s2, err := New(WithWorkDir(s.WorkDir()), WithPort(s.Port()))
	require.NoError(t, err)
	require.NoError(t, s2.Start(ctx))
	require.Equal(t, pid, s2.PID())
	require.Equal(t, s.DSN(), s2.DSN())

	// Stop leaves no process: neither the postmaster nor its backends.
	held, err := pgx.Connect(ctx, s.DSN()) // an open client must not block Stop
	require.NoError(t, err)
	defer held.Close(context.Background())
	master, err := proc.Of(pid)
	require.NoError(t, err)
	children := backends(t, pid)
	require.NotEmpty(t, children)
	require.NoError(t, s.Stop(ctx))
	require.False(t, master.Alive())
	for _, c := range children {
		require.False(t, c.Alive(), "backend %d outlived Stop", c.PID)
	}
	require.False(t, s.Running())
	require.NoError(t, s.Stop(ctx), "stopping twice is fine")

	// A crash leaves stale PID files behind; Start cleans them and starts.
	require.NoError(t, s.Start(ctx))
	r, err := proc.Of(s.PID())
	require.NoError(t, err)
	require.NoError(t, syscall.Kill(-r.PID, syscall.SIGKILL)) // a crash: the whole group, no clean-up
	require.True(t, proc.WaitGone(r, 10*time.Second))
	require.FileExists(t, filepath.Join(s.WorkDir(), "data", "postmaster.pid"))
	require.NoError(t, s.Start(ctx))
	require.True(t, s.Running())
	require.NotEqual(t, r.PID, s.PID())
	require.NoError(t, s.Delete(ctx))
	_, err = os.Stat(s.WorkDir())
	require.True(t, errors.Is(err, os.ErrNotExist))
}

func TestStartFailsClearlyOnTakenPortAndForeignAddress(t *testing.T) {
	requireCanRun(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	s, err := New(WithWorkDir(workDir(t)), WithPort(ln.Addr().(*net.TCPAddr).Port))
	require.NoError(t, err)
	err = s.Start(ctx)
	require.ErrorContains(t, err, "is taken")
	require.False(t, s.Running())

	s, err = New(WithWorkDir(workDir(t)), WithPort(freePort(t)), WithListenAddresses("192.0.2.1"))
	require.NoError(t, err)
	err = s.Start(ctx)
	require.ErrorContains(t, err, "192.0.2.1 is not assigned to this machine")
	require.False(t, s.Running())
}

func splitLines(s string) []string { return strings.Split(s, "\n") }

func trimSpace(s string) string { return strings.TrimSpace(s) }
