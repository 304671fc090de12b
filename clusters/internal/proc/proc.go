// Package proc starts and stops the host processes firedrill owns (cluster
// components, PostgreSQL, Prometheus) by PID. A process is recorded with
// its start time so that a recycled PID is never mistaken for ours.
package proc

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Ref identifies one process: its PID and its start time in clock ticks
// since boot (field 22 of /proc/PID/stat).
type Ref struct {
	PID   int
	Start uint64
}

// Of returns the Ref of a running pid.
func Of(pid int) (Ref, error) {
	_, st, err := stat(pid)
	if err != nil {
		return Ref{}, fmt.Errorf("proc: %d: %w", pid, err)
	}
	return Ref{PID: pid, Start: st}, nil
}

// Alive reports whether the process is still running (not a zombie and not
// a recycled PID).
func (r Ref) Alive() bool {
	if r.PID <= 0 {
		return false
	}
	state, st, err := stat(r.PID)
	return err == nil && st == r.Start && state != 'Z' && state != 'X'
}

// Start starts cmd in its own process group with stdout and stderr
// appended to logPath, and records it in pidPath. The caller must Wait on
// cmd (or let it be reaped) to avoid a zombie.
func Start(cmd *exec.Cmd, logPath, pidPath string) (Ref, error) {
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return Ref{}, fmt.Errorf("proc: log file: %w", err)
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	if cmd.SysProcAttr == nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{}
	}
	// Own process group: a Ctrl-C in the user's terminal reaches firedrill,
	// which then stops its processes in order, instead of reaching them all.
	cmd.SysProcAttr.Setpgid = true
	if err := cmd.Start(); err != nil {
		return Ref{}, fmt.Errorf("proc: start %s: %w", cmd.Path, err)
	}
	r, err := Of(cmd.Process.Pid)
	if err != nil {
		_ = cmd.Process.Kill()
		return Ref{}, err
	}
	if err := WritePIDFile(pidPath, r); err != nil {
		_ = cmd.Process.Kill()
		return Ref{}, err
	}
	return r, nil
}

// Stop sends SIGTERM, waits up to grace, then SIGKILLs and waits up to 5 s
// more. It returns nil once the process is gone (or was never running).
// When the process leads its own process group (as Start makes it), the
// SIGKILL goes to the whole group so that no child outlives it.
func Stop(r Ref, grace time.Duration) error {
	if !r.Alive() {
		return nil
	}
	_ = syscall.Kill(r.PID, syscall.SIGTERM)
	if WaitGone(r, grace) {
		return nil
	}
	if pgid, err := syscall.Getpgid(r.PID); err == nil && pgid == r.PID && r.Alive() {
		_ = syscall.Kill(-r.PID, syscall.SIGKILL)
	}
	_ = syscall.Kill(r.PID, syscall.SIGKILL)
	if WaitGone(r, 5*time.Second) {
		return nil
	}
	return fmt.Errorf("proc: process %d did not exit after SIGKILL", r.PID)
}

// WaitGone waits up to d for r to exit and reports whether it did.
func WaitGone(r Ref, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for r.Alive() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return true
}

// StopPIDFile stops the process recorded in path, if any, and removes the
// file.
func StopPIDFile(path string, grace time.Duration) error {
	r, err := ReadPIDFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err == nil {
		err = Stop(r, grace)
	} else {
		err = nil // a malformed file names no process we can trust
	}
	if err != nil {
		return err
	}
	if rmErr := os.Remove(path); rmErr != nil && !errors.Is(rmErr, os.ErrNotExist) {
		return fmt.Errorf("proc: %w", rmErr)
	}
	return nil
}

// WritePIDFile records r in path as "PID START".
func WritePIDFile(path string, r Ref) error {
	if err := os.WriteFile(path, []byte(fmt.Sprintf("%d %d\n", r.PID, r.Start)), 0o644); err != nil {
		return fmt.Errorf("proc: pid file: %w", err)
	}
	return nil
}

// ReadPIDFile reads a file written by WritePIDFile.
func ReadPIDFile(path string) (Ref, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Ref{}, err
	}
	f := strings.Fields(string(data))
	if len(f) != 2 {
		return Ref{}, fmt.Errorf("proc: malformed pid file %s", path)
	}
	pid, err1 := strconv.Atoi(f[0])
	st, err2 := strconv.ParseUint(f[1], 10, 64)
	if err1 != nil || err2 != nil || pid <= 0 {
		return Ref{}, fmt.Errorf("proc: malformed pid file %s", path)
	}
	return Ref{PID: pid, Start: st}, nil
}

// TailFile returns the last n lines of a file, for error messages.
func TailFile(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// stat returns the state letter and start time of pid.
func stat(pid int) (state byte, start uint64, err error) {
	data, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	// The command name (field 2) may hold spaces and parentheses: parse
	// after the last ')'.
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 20 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, err
	}
	return f[0][0], start, nil
}
