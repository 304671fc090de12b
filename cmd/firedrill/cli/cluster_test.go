package cli

import (
	"bytes"
	"errors"
	"os"
	"testing"

	"github.com/spf13/cobra"
	"github.com/stretchr/testify/require"
)

// runCluster executes `cluster ARGS...` on a root holding only the cluster
// command and maps the error to an exit code the way Execute does.
func runCluster(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	root := &cobra.Command{Use: "firedrill", SilenceUsage: true, SilenceErrors: true}
	root.AddCommand(newClusterCmd())
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(append([]string{"cluster"}, args...))
	err := root.Execute()
	if err == nil {
		return ExitOK, out.String(), errOut.String()
	}
	var ee *exitError
	if errors.As(err, &ee) {
		return ee.code, out.String(), errOut.String() + err.Error()
	}
	return ExitError, out.String(), errOut.String() + err.Error()
}

func TestClusterCommandTree(t *testing.T) {
	cmd := newClusterCmd()
	want := map[string][]string{
		"up":         {"name", "home", "timeout", "verbose", "kubernetes-bin", "runc", "module-dir"},
		"down":       {"name", "home", "timeout", "verbose"},
		"status":     {"name", "home", "timeout", "verbose"},
		"load-image": {"name", "home", "timeout", "verbose"},
	}
	for _, sub := range cmd.Commands() {
		flags, ok := want[sub.Name()]
		require.True(t, ok, "unexpected subcommand %s", sub.Name())
		for _, f := range flags {
			require.NotNil(t, sub.Flags().Lookup(f), "%s lacks --%s", sub.Name(), f)
		}
		delete(want, sub.Name())
	}
	require.Empty(t, want, "missing subcommands")
}

func TestClusterStatusMissingClusterExitsOne(t *testing.T) {
	code, out, _ := runCluster(t, "status", "--home", t.TempDir(), "--name", "nope")
	require.Equal(t, ExitFailed, code)
	require.Contains(t, out, `Cluster "nope" does not exist`)
}

func TestClusterLoadImageNeedsArgs(t *testing.T) {
	code, _, _ := runCluster(t, "load-image", "--home", t.TempDir())
	require.Equal(t, ExitError, code)
}

func TestClusterLoadImageWithoutClusterCannotRun(t *testing.T) {
	code, _, errOut := runCluster(t, "load-image", "--home", t.TempDir(), "--name", "nope", "/nonexistent.tar")
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "not running")
}

func TestClusterDownWithoutClusterIsANoop(t *testing.T) {
	if os.Geteuid() != 0 {
		code, _, errOut := runCluster(t, "down", "--home", t.TempDir(), "--name", "nope")
		require.Equal(t, ExitError, code)
		require.Contains(t, errOut, "root")
		return
	}
	code, out, errOut := runCluster(t, "down", "--home", t.TempDir(), "--name", "nope")
	require.Equal(t, ExitOK, code, errOut)
	require.Contains(t, out, `Cluster "nope" deleted`)
}

func TestClusterUpBadNameCannotRun(t *testing.T) {
	code, _, errOut := runCluster(t, "up", "--home", t.TempDir(), "--name", "a/b")
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "invalid cluster name")
}

func TestClusterLoadImageUnknownProvider(t *testing.T) {
	code, _, errOut := run(t, "cluster", "load-image", "--provider", "minikube", "x.tar")
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, `unknown provider "minikube"`)
}

func TestClusterLoadImageKindMissingTarball(t *testing.T) {
	code, _, errOut := run(t, "cluster", "load-image", "--provider", "kind", "--name", "ci", "/nonexistent/x.tar")
	require.Equal(t, ExitError, code)
	require.Contains(t, errOut, "kind: image tarball")
}
