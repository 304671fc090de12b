package postgres

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFindBinDirPicksNewestComplete(t *testing.T) {
	root := t.TempDir()
	mk := func(major string, bins ...string) {
		dir := filepath.Join(root, major, "bin")
		require.NoError(t, os.MkdirAll(dir, 0o755))
		for _, b := range bins {
			require.NoError(t, os.WriteFile(filepath.Join(dir, b), []byte("#!/bin/sh\n"), 0o755))
		}
	}
	mk("13", requiredBinaries...)
	mk("15", requiredBinaries...)
	mk("9", requiredBinaries...)
	mk("17", "initdb", "postgres") // incomplete: no pg_isready
	mk("common", requiredBinaries...)

	got, err := findBinDir(root)
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "15", "bin"), got)

	_, err = findBinDir(filepath.Join(root, "none"))
	require.ErrorIs(t, err, ErrNotInstalled)
	empty := t.TempDir()
	_, err = findBinDir(empty)
	require.ErrorIs(t, err, ErrNotInstalled)
}

func TestOptionsAndDSN(t *testing.T) {
	s, err := New(WithWorkDir("/tmp/fd-pg"), WithPort(6543), WithListenAddresses("10.244.0.1", "127.0.0.1"))
	require.NoError(t, err)
	require.Equal(t, []string{"127.0.0.1", "10.244.0.1"}, s.ListenAddresses(), "loopback always first, no duplicates")
	s.password = "p'w"
	require.Equal(t, "postgres://ledger:p%27w@127.0.0.1:6543/ledger?sslmode=disable", s.DSN())
	pod, err := s.PodDSN()
	require.NoError(t, err)
	require.Equal(t, "postgres://ledger:p%27w@10.244.0.1:6543/ledger?sslmode=disable", pod)
	require.Contains(t, s.serverArgs(), "listen_addresses=127.0.0.1,10.244.0.1")
	require.Contains(t, s.serverArgs(), "6543")

	lo, err := New()
	require.NoError(t, err)
	require.Equal(t, DefaultPort, lo.Port())
	_, err = lo.PodDSN()
	require.ErrorIs(t, err, ErrNoPodAddress)

	for name, opt := range map[string]Option{
		"port zero":   WithPort(0),
		"port high":   WithPort(70000),
		"not an IP":   WithListenAddresses("gateway"),
		"unspecified": WithListenAddresses("0.0.0.0"),
		"bad CIDR":    WithPodCIDR("10.244.0.0/33"),
		"no timeout":  WithTimeout(0),
		"empty dir":   WithWorkDir(""),
	} {
		_, err := New(opt)
		require.Error(t, err, name)
		require.True(t, strings.HasPrefix(err.Error(), "postgres: "), name)
	}
}

func TestDefaultWorkDirFollowsFiredrillHome(t *testing.T) {
	t.Setenv("FIREDRILL_HOME", "/srv/fd")
	s, err := New()
	require.NoError(t, err)
	require.Equal(t, "/srv/fd/postgres", s.WorkDir())
}

func TestRenderHBAAdmitsLoopbackAndPodsOnlyWithScram(t *testing.T) {
	hba := string(renderHBA(netip.MustParsePrefix("10.244.0.7/24")))
	var rules []string
	for _, l := range strings.Split(hba, "\n") {
		if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
			rules = append(rules, strings.Join(strings.Fields(l), " "))
		}
	}
	require.Equal(t, []string{
		"local all all scram-sha-256",
		"host all all 127.0.0.1/32 scram-sha-256",
		"host all all ::1/128 scram-sha-256",
		"host all all 10.244.0.0/24 scram-sha-256",
	}, rules)
}

func TestReadOrCreateSecret(t *testing.T) {
	p := filepath.Join(t.TempDir(), "password")
	pw, err := readOrCreateSecret(p)
	require.NoError(t, err)
	require.Len(t, pw, 48)
	fi, err := os.Stat(p)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	again, err := readOrCreateSecret(p)
	require.NoError(t, err)
	require.Equal(t, pw, again, "an existing password is reused")

	require.NoError(t, os.WriteFile(p, []byte("\n"), 0o644))
	_, err = readOrCreateSecret(p)
	require.ErrorContains(t, err, "empty")
}

func TestQuoteLiteral(t *testing.T) {
	require.Equal(t, `'it''s'`, quoteLiteral("it's"))
}

func TestCheckTraversable(t *testing.T) {
	u := sysUser{uid: 4242, gid: 4242}
	parent := t.TempDir()
	closed := filepath.Join(parent, "closed")
	require.NoError(t, os.Mkdir(closed, 0o700))
	// t.TempDir and its parent are 0700: open both for the walk up.
	require.NoError(t, os.Chmod(parent, 0o755))
	require.NoError(t, os.Chmod(filepath.Dir(parent), 0o755))
	require.ErrorContains(t, checkTraversable(closed, u), "cannot reach the work folder")
	require.NoError(t, os.Chmod(closed, 0o711))
	require.NoError(t, checkTraversable(closed, u))
}
