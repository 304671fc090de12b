package postgres

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/firedrill/firedrill/clusters/internal/proc"
)

// ErrNotRoot means Start needs root (or to run as the postgres user
// itself) to start PostgreSQL as the postgres user.
var ErrNotRoot = errors.New("starting PostgreSQL as the postgres user needs root")

// sysUser is the postgres system user.
type sysUser struct {
	uid, gid uint32
}

// lookupSystemUser finds the postgres user and checks we can act as it.
func lookupSystemUser() (sysUser, error) {
	u, err := user.Lookup(SystemUser)
	if err != nil {
		return sysUser{}, fmt.Errorf("system user %s (created by the postgresql package): %w", SystemUser, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return sysUser{}, fmt.Errorf("system user %s has a non-numeric uid or gid", SystemUser)
	}
	su := sysUser{uid: uint32(uid), gid: uint32(gid)}
	if euid := os.Geteuid(); euid != 0 && euid != int(su.uid) {
		return sysUser{}, fmt.Errorf("%w (running as uid %d)", ErrNotRoot, euid)
	}
	return su, nil
}

// self reports whether we already run as the postgres user.
func (u sysUser) self() bool { return os.Geteuid() == int(u.uid) }

// credential switches a child to the postgres user (nil when we are it).
func (u sysUser) credential() *syscall.Credential {
	if u.self() {
		return nil
	}
	return &syscall.Credential{Uid: u.uid, Gid: u.gid, Groups: []uint32{u.gid}}
}

// chown gives path to the postgres user (a no-op when we are it).
func (u sysUser) chown(path string) error {
	if u.self() {
		return nil
	}
	if err := os.Chown(path, int(u.uid), int(u.gid)); err != nil {
		return fmt.Errorf("chown %s to %s: %w", path, SystemUser, err)
	}
	return nil
}

// prepareWorkDir creates the work folder (0711: the postgres user may pass
// through, not list) and run/ (owned by postgres, 0700), and checks that
// the postgres user can reach the work folder at all.
func (s *Server) prepareWorkDir(u sysUser) error {
	if err := os.MkdirAll(s.workDir, 0o711); err != nil {
		return fmt.Errorf("work folder: %w", err)
	}
	if !u.self() {
		if err := os.Chmod(s.workDir, 0o711); err != nil {
			return fmt.Errorf("work folder: %w", err)
		}
	}
	if err := checkTraversable(s.workDir, u); err != nil {
		return err
	}
	if err := os.MkdirAll(s.runDir(), 0o700); err != nil {
		return fmt.Errorf("socket folder: %w", err)
	}
	return u.chown(s.runDir())
}

// checkTraversable checks that the postgres user may search every folder
// from / down to dir.
func checkTraversable(dir string, u sysUser) error {
	for d := dir; ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil {
			return fmt.Errorf("work folder: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		mode := fi.Mode().Perm()
		can := mode&0o001 != 0 ||
			(st.Gid == u.gid && mode&0o010 != 0) ||
			(st.Uid == u.uid && mode&0o100 != 0)
		if !can {
			return fmt.Errorf("the %s user cannot reach the work folder %s: %s is %v (owner %d); choose a work folder under a path it can traverse, such as %s",
				SystemUser, dir, d, mode, st.Uid, DefaultHome)
		}
		if d == filepath.Dir(d) {
			return nil
		}
	}
}

// loadSecrets reads the two password files, creating each with a new
// random password (0600) if missing. A missing superuser password for an
// initialised data folder cannot be recovered.
func (s *Server) loadSecrets() error {
	_, statErr := os.Stat(filepath.Join(s.dataDir(), "PG_VERSION"))
	initialised := statErr == nil
	if _, err := os.Stat(s.superPath()); errors.Is(err, os.ErrNotExist) && initialised {
		return fmt.Errorf("%s is missing but %s is initialised: the superuser password is lost; Delete the work folder to start over", s.superPath(), s.dataDir())
	}
	super, err := readOrCreateSecret(s.superPath())
	if err != nil {
		return err
	}
	pw, err := readOrCreateSecret(s.passwordPath())
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.superPass, s.password = super, pw
	s.mu.Unlock()
	return nil
}

// readOrCreateSecret returns the password in path, creating the file
// (0600) with 24 random bytes in hex when it does not exist.
func readOrCreateSecret(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		pw := strings.TrimSpace(string(data))
		if pw == "" {
			return "", fmt.Errorf("password file %s is empty", path)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			return "", fmt.Errorf("password file: %w", err)
		}
		return pw, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("password file: %w", err)
	}
	b := make([]byte, 24)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("generate password: %w", err)
	}
	pw := hex.EncodeToString(b)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	if _, err := f.WriteString(pw + "\n"); err != nil {
		_ = f.Close()
		return "", fmt.Errorf("password file: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("password file: %w", err)
	}
	return pw, nil
}

// running finds this work folder's live postmaster: through our PID file
// or, when that is missing or stale, through PostgreSQL's postmaster.pid
// (then adopted into our PID file).
func (s *Server) running() (proc.Ref, bool) {
	if r, err := proc.ReadPIDFile(s.pidPath()); err == nil && r.Alive() && s.isOurPostmaster(r.PID) {
		return r, true
	}
	pid := postmasterPID(s.dataDir())
	if pid <= 0 || !s.isOurPostmaster(pid) {
		return proc.Ref{}, false
	}
	r, err := proc.Of(pid)
	if err != nil || !r.Alive() {
		return proc.Ref{}, false
	}
	_ = proc.WritePIDFile(s.pidPath(), r)
	return r, true
}

// isOurPostmaster reports whether pid is a postgres process serving this
// work folder's data folder.
func (s *Server) isOurPostmaster(pid int) bool {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	if err != nil {
		return false
	}
	args := strings.Split(strings.TrimRight(string(data), "\x00"), "\x00")
	if len(args) == 0 || filepath.Base(args[0]) != "postgres" {
		return false
	}
	for i := 1; i+1 < len(args); i++ {
		if args[i] == "-D" && filepath.Clean(args[i+1]) == s.dataDir() {
			return true
		}
	}
	return false
}

// postmasterPID reads the PID on the first line of data/postmaster.pid, or 0.
func postmasterPID(dataDir string) int {
	data, err := os.ReadFile(filepath.Join(dataDir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0
	}
	return pid
}

// removeStale removes PID and socket lock files left by a server that no
// longer runs (after a crash or kill -9). Call only when running() is false.
func (s *Server) removeStale() error {
	stale := []string{s.pidPath(), filepath.Join(s.dataDir(), "postmaster.pid")}
	locks, _ := filepath.Glob(filepath.Join(s.runDir(), ".s.PGSQL.*"))
	stale = append(stale, locks...)
	for _, p := range stale {
		err := os.Remove(p)
		if err == nil {
			s.log.Info("removed stale file", "path", p)
			continue
		}
		if !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", p, err)
		}
	}
	return nil
}

// initdb initialises the data folder once, as the postgres user, with the
// superuser password and scram-sha-256 authentication.
func (s *Server) initdb(ctx context.Context, u sysUser) error {
	if _, err := os.Stat(filepath.Join(s.dataDir(), "PG_VERSION")); err == nil {
		return nil
	}
	if entries, err := os.ReadDir(s.dataDir()); err == nil && len(entries) > 0 {
		return fmt.Errorf("data folder %s is not empty but has no PG_VERSION: not a PostgreSQL data folder; remove it or choose another work folder", s.dataDir())
	}
	if err := os.MkdirAll(s.dataDir(), 0o700); err != nil {
		return fmt.Errorf("data folder: %w", err)
	}
	if err := u.chown(s.dataDir()); err != nil {
		return err
	}
	// initdb reads the superuser password from a file the postgres user can
	// read; it lives in run/ (postgres, 0700) only while initdb runs.
	pwFile := filepath.Join(s.runDir(), "initdb-password")
	s.mu.Lock()
	super := s.superPass
	s.mu.Unlock()
	if err := os.WriteFile(pwFile, []byte(super+"\n"), 0o600); err != nil {
		return fmt.Errorf("initdb password file: %w", err)
	}
	defer os.Remove(pwFile)
	if err := u.chown(pwFile); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, filepath.Join(s.binDir, "initdb"),
		"-D", s.dataDir(), "-U", SystemUser, "--pwfile="+pwFile,
		"--auth=scram-sha-256", "--encoding=UTF8", "--no-locale")
	cmd.Dir = s.dataDir()
	cmd.Env = processEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: u.credential()}
	s.log.Info("initialising postgresql data folder", "data", s.dataDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("initdb: %w\n%s", err, bytes.TrimSpace(out))
	}
	return nil
}

// writeHBA replaces data/pg_hba.conf with renderHBA's, owned by postgres.
func (s *Server) writeHBA(u sysUser) error {
	p := filepath.Join(s.dataDir(), "pg_hba.conf")
	if err := os.WriteFile(p, renderHBA(s.podCIDR), 0o600); err != nil {
		return fmt.Errorf("pg_hba.conf: %w", err)
	}
	return u.chown(p)
}

// renderHBA admits, with scram-sha-256 only, the Unix socket, loopback and
// the pod CIDR; everything else is rejected by having no line.
func renderHBA(podCIDR netip.Prefix) []byte {
	var b strings.Builder
	b.WriteString("# Written by firedrill (clusters/local/postgres) on every Start; edits are lost.\n")
	b.WriteString("# TYPE  DATABASE  USER  ADDRESS  METHOD\n")
	b.WriteString("local   all       all            scram-sha-256\n")
	b.WriteString("host    all       all   127.0.0.1/32  scram-sha-256\n")
	b.WriteString("host    all       all   ::1/128       scram-sha-256\n")
	fmt.Fprintf(&b, "host    all       all   %s  scram-sha-256\n", podCIDR.Masked())
	return []byte(b.String())
}

// quoteLiteral quotes s as an SQL string literal (standard_conforming_strings
// is on by default, so only quotes need doubling).
func quoteLiteral(s string) string {
	return "'" + strings.ReplaceAll(s, "'", "''") + "'"
}

// Attach loads the passwords of a server that another process started, so
// that DSN works without Start. It fails if the data folder was never
// initialised.
func (s *Server) Attach() error {
	if _, err := os.Stat(filepath.Join(s.dataDir(), "PG_VERSION")); err != nil {
		return fmt.Errorf("postgres: no initialised server in %s (bring the demo stack up first): %w", s.WorkDir(), err)
	}
	if err := s.loadSecrets(); err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	return nil
}
