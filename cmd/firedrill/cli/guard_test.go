package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// runGuardCmd runs `firedrill guard ARGS` and maps its error to the exit
// code as Execute does.
func runGuardCmd(t *testing.T, args ...string) (int, string) {
	t.Helper()
	return runGuardCmdContext(context.Background(), t, args...)
}

func runGuardCmdContext(ctx context.Context, t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := newGuardCmd()
	var out, errOut bytes.Buffer
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SilenceUsage, cmd.SilenceErrors = true, true
	err := cmd.ExecuteContext(ctx)
	if err == nil {
		return ExitOK, errOut.String()
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, err.Error()
	}
	return ExitError, err.Error()
}

func TestGuardUsageErrorsExitTwo(t *testing.T) {
	badImage := filepath.Join("..", "..", "..", "drills", "examples", "bad-image.yaml")
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{name: "no file", args: nil, want: "requires at least 1 arg"},
		{name: "unknown flag", args: []string{"--nope", badImage}, want: "unknown flag"},
		{name: "lease name without namespace", args: []string{"--lease-name", "g", badImage}, want: "go together"},
		{name: "id without lease", args: []string{"--id", "a", badImage}, want: "needs --lease-name"},
		{name: "missing file", args: []string{filepath.Join(t.TempDir(), "nope.yaml")}, want: "no such file"},
		{name: "missing kubeconfig", args: []string{"--kubeconfig", filepath.Join(t.TempDir(), "kc"), badImage}, want: "kubeconfig"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, msg := runGuardCmd(t, tc.args...)
			require.Equal(t, ExitError, code, msg)
			require.Contains(t, msg, tc.want)
		})
	}
}

// TestGuardRunsUntilCancelledExitZero runs the guard against an API server
// that answers nothing useful: it keeps trying until its context ends (a
// signal, in main) and then exits 0 with the audit store created.
func TestGuardRunsUntilCancelledExitZero(t *testing.T) {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "unavailable", http.StatusServiceUnavailable)
	}))
	t.Cleanup(api.Close)
	dir := t.TempDir()
	kubeconfig := filepath.Join(dir, "kubeconfig")
	require.NoError(t, os.WriteFile(kubeconfig, []byte(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "`+api.URL+`"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: c, context: {cluster: c, user: u}}]
current-context: c
`), 0o600))
	audit := filepath.Join(dir, "audit.db")
	ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	badImage := filepath.Join("..", "..", "..", "drills", "examples", "bad-image.yaml")
	code, msg := runGuardCmdContext(ctx, t, "--kubeconfig", kubeconfig, "--prometheus", "http://127.0.0.1:1",
		"--audit-dsn", audit, "--metrics-listen", "127.0.0.1:0", badImage)
	require.Equal(t, ExitOK, code, msg)
	require.Contains(t, msg, "firedrill guard stopped")
	require.FileExists(t, audit)
}
