package proc

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestStartStopByPIDFile(t *testing.T) {
	dir := t.TempDir()
	logPath, pidPath := filepath.Join(dir, "sleep.log"), filepath.Join(dir, "sleep.pid")
	cmd := exec.Command("sh", "-c", "echo started; exec sleep 60")
	r, err := Start(cmd, logPath, pidPath)
	require.NoError(t, err)
	go func() { _ = cmd.Wait() }()
	require.True(t, r.Alive())

	got, err := ReadPIDFile(pidPath)
	require.NoError(t, err)
	require.Equal(t, r, got)
	require.Eventually(t, func() bool { return TailFile(logPath, 5) == "started" }, 5*time.Second, 20*time.Millisecond)

	require.NoError(t, StopPIDFile(pidPath, 5*time.Second))
	require.False(t, r.Alive())
	require.NoFileExists(t, pidPath)
	require.NoError(t, StopPIDFile(pidPath, time.Second), "stopping twice is fine")
}

func TestRecycledPIDIsNotOurs(t *testing.T) {
	cmd := exec.Command("sleep", "60")
	r, err := Start(cmd, filepath.Join(t.TempDir(), "l"), filepath.Join(t.TempDir(), "p"))
	require.NoError(t, err)
	defer func() { _ = Stop(r, time.Second); _ = cmd.Wait() }()
	other := Ref{PID: r.PID, Start: r.Start + 1}
	require.False(t, other.Alive(), "same PID, other start time: not our process")
	require.NoError(t, Stop(other, time.Second), "never signals a process that is not ours")
	require.True(t, r.Alive())
}

func TestStopEscalatesToKillOfTheGroup(t *testing.T) {
	dir := t.TempDir()
	childPID := filepath.Join(dir, "child")
	cmd := exec.Command("sh", "-c", "trap '' TERM; sleep 60 & echo $! > "+childPID+"; wait")
	r, err := Start(cmd, filepath.Join(dir, "l"), filepath.Join(dir, "p"))
	require.NoError(t, err)
	go func() { _ = cmd.Wait() }()
	var child Ref
	require.Eventually(t, func() bool {
		b, err := os.ReadFile(childPID)
		if err != nil || len(b) < 2 {
			return false
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return false
		}
		child, err = Of(pid)
		return err == nil
	}, 5*time.Second, 20*time.Millisecond)
	require.NoError(t, Stop(r, 300*time.Millisecond))
	require.False(t, r.Alive())
	require.Eventually(t, func() bool { return !child.Alive() }, 5*time.Second, 20*time.Millisecond, "the child in the group is gone too")
}

func TestReadPIDFileMalformed(t *testing.T) {
	p := filepath.Join(t.TempDir(), "bad.pid")
	require.NoError(t, WritePIDFile(p, Ref{PID: 1, Start: 2}))
	r, err := ReadPIDFile(p)
	require.NoError(t, err)
	require.Equal(t, Ref{PID: 1, Start: 2}, r)
	_, err = ReadPIDFile(filepath.Join(t.TempDir(), "none"))
	require.Error(t, err)
}
